"""tests/jobs/check_template_options.py — the job templates pass volt-train only keys it has.

Collects every --section.key=value on the volt-train command lines of jobs/*.sbatch, *.pbs
and *.sh (those naming volt-train or $VOLT_TRAIN, continuation lines joined, comments
left out) and in their *ARGS= assignments, and every VOLT_SECTION__KEY variable the
scripts set, and asks volt-train about each:
`volt-train fit --config CONFIG --section.key=value --print-config` must succeed. A value
written in the template is checked as it is; one taken from the shell ($SLURM_NTASKS, "$lr")
is replaced by the key's resolved default, so that only the key's name is checked. An
unknown key makes volt-train exit 2 with "unknown key", which fails this test: renaming a
configuration key breaks it until the templates follow.

Before the templates, a self-test: an unknown key and a bad literal value must be caught.
  check_template_options.py --volt-train build/apps/volt-train --config CONFIG --jobs-dir jobs
"""
import argparse
import pathlib
import re
import subprocess
import sys

# --section.key= and its value, one shell word (quoted parts and all)
OPTION = re.compile(r"--([a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+)="
                    r"((?:\"[^\"]*\"|'[^']*'|[^\s\"'])*)")
VARIABLE = re.compile(r"\bVOLT_([A-Z][A-Z0-9]*)__([A-Z][A-Z0-9_]*)\b")


def code_lines(text):
    """(first line number, text) of the shell's logical lines that are not comments:
    trailing comments cut, backslash continuations joined."""
    pending, first = "", None
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#") and not pending:
            continue
        line = re.sub(r"\s#\s.*$", "", line)
        first = first or number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield first, pending + line
        pending, first = "", None
    if pending:
        yield first, pending


def options_used(name, text):
    """[(where, key, value or None when the shell provides it)] of one script"""
    used = []
    for number, line in code_lines(text):
        if not re.search(r"volt-train|VOLT_TRAIN|^\s*\w*ARGS=", line):
            line = ""  # another program's options (volt-demo, srun, mpirun)
        for match in OPTION.finditer(line):
            value = re.sub(r"[\"']", "", match.group(2))
            used.append((f"{name}:{number}", match.group(1),
                         None if "$" in value or "`" in value else value))
    for number, line in code_lines(text):
        for match in VARIABLE.finditer(line):
            key = f"{match.group(1).lower()}.{match.group(2).lower()}"
            used.append((f"{name}:{number}", key, None))
    return used


def resolved_defaults(volt_train, config):
    """The keys and values of `volt-train fit --print-config`, flattened to section.key."""
    result = subprocess.run([volt_train, "fit", "--config", config, "--print-config"],
                            capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        sys.exit(f"volt-train fit --print-config failed ({result.returncode}):\n"
                 f"{result.stdout}{result.stderr}")
    values, section = {}, None
    for line in result.stdout.splitlines():
        top = re.match(r"^([A-Za-z_]\w*):\s*$", line)
        entry = re.match(r"^\s+([A-Za-z_]\w*):\s*(.*)$", line)
        if top:
            section = top.group(1)
        elif entry and section:
            values[f"{section}.{entry.group(1)}"] = entry.group(2).strip().strip('"')
    return values


def ask(volt_train, config, pairs):
    """None when volt-train takes every --key=value of pairs, else its complaint."""
    result = subprocess.run([volt_train, "fit", "--config", config]
                            + [f"--{key}={value}" for key, value in pairs]
                            + ["--print-config"], capture_output=True, text=True, timeout=60)
    if result.returncode == 0:
        return None
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[0] if lines else f"exit {result.returncode}"


def check(volt_train, config, defaults, used):
    # a value from the shell: any value the key takes will do; a key without a default
    # (not in --print-config) gets a word, which is enough to tell an unknown key
    # ("unknown key") from a known one with a value it dislikes
    probes = sorted({(key, value if value is not None else defaults.get(key, "1"))
                     for _, key, value in used})
    keys = [key for key, _ in probes]
    if len(set(keys)) == len(keys) and ask(volt_train, config, probes) is None:
        return []  # all at once, in one call; else one call a use, to say which fails
    errors = []
    for where, key, value in used:
        probe = value if value is not None else defaults.get(key, "1")
        complaint = ask(volt_train, config, [(key, probe)])
        if complaint is None or (value is None and "unknown key" not in complaint):
            continue
        errors.append(f"{where}: --{key}={value if value is not None else '...'}: "
                      f"{complaint}")
    return errors


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volt-train", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--jobs-dir", required=True, type=pathlib.Path)
    args = parser.parse_args()
    defaults = resolved_defaults(args.volt_train, args.config)

    broken = "srun volt-train fit --trainer.max_epohcs=3 --trainer.max_epochs=three \\\n" \
             "  --trainer.layout=dp=$SLURM_NTASKS   # --trainer.not_checked=1\n"
    errors = check(args.volt_train, args.config, defaults, options_used("self-test", broken))
    if len(errors) != 2 or "max_epohcs" not in errors[0] or "=three" not in errors[1]:
        print("self-test: expected an unknown key and a bad value to be caught, got:\n  "
              + "\n  ".join(errors or ["nothing"]))
        return 1
    print("self-test: an unknown key and a bad value caught, a key fed by the shell passed")

    used = []
    for script in sorted(p for pattern in ("*.sbatch", "*.pbs", "*.sh")
                         for p in args.jobs_dir.glob(pattern)):
        used += options_used(f"jobs/{script.name}", script.read_text())
    if not used:
        print(f"no --section.key= options in {args.jobs_dir}")
        return 1
    errors = check(args.volt_train, args.config, defaults, used)
    keys = sorted({key for _, key, _ in used})
    print(f"{len(used)} uses of {len(keys)} keys, each asked of volt-train: {', '.join(keys)}")
    if errors:
        print("\n".join(errors))
        return 1
    print("volt-train knows them all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
