"""tests/jobs/check_job_scripts.py — the job script templates of jobs/ are well formed.

For every jobs/*.sbatch, jobs/*.pbs and jobs/*.sh: `bash -n` (and shellcheck at severity
warning, when --shellcheck names one); then every #SBATCH / #PBS directive line:

  * it is a directive the scheduler reads: '#SBATCH' or '#PBS' at the start of the line and
    a space after it ('##SBATCH' disables a line on purpose; it is checked all the same, so
    that enabling it is safe); ' #SBATCH', '# SBATCH' and '#SBATCH--x' are silently ignored
    by the scheduler, so they are errors here;
  * it comes before the first command: sbatch and qsub stop reading directives there;
  * sbatch: each option is one sbatch knows, given a value when it needs one, once; values
    of the common ones (--time, --nodes, --array, --signal, ...) have their documented form;
    with --gpus-per-node, --ntasks-per-node must equal it (Volt runs one rank per GPU);
  * PBS: each option is one qsub knows, with a value; -l resources have their form
    (select chunks, walltime, place), and a chunk's mpiprocs x ompthreads fit its ncpus;
    no comment after a #PBS directive (qsub would read it as part of the value).

Before the files, --self-test feeds the checker broken scripts and fails unless each one is
rejected for the expected reason. Exit status: 0 all good, 1 a check failed.

  check_job_scripts.py --jobs-dir jobs [--shellcheck /usr/bin/shellcheck]
"""
import argparse
import pathlib
import re
import subprocess
import sys

# sbatch's options (Slurm 23.x/24.x `sbatch --help`): long name -> "value" (needs one),
# "flag" (takes none) or "optional" (--name or --name=value).
SBATCH_OPTIONS = {
    **{name: "value" for name in """
        account acctg-freq array batch bb bbf begin chdir cluster-constraint clusters
        comment constraint container container-id core-spec cores-per-socket cpu-freq
        cpus-per-gpu cpus-per-task deadline delay-boot dependency distribution error
        exclude export export-file extra gid gpu-bind gpu-freq gpus gpus-per-node
        gpus-per-socket gpus-per-task gres gres-flags hint input job-name licenses
        mail-type mail-user mcs-label mem mem-bind mem-per-cpu mem-per-gpu mincpus network
        nice nodefile nodelist nodes ntasks ntasks-per-core ntasks-per-gpu ntasks-per-node
        ntasks-per-socket open-mode output partition power prefer priority profile
        propagate qos reservation resv-ports segment signal sockets-per-node switches
        thread-spec threads-per-core time time-min tmp tres-bind tres-per-task uid wckey
        wrap kill-on-invalid-dep""".split()},
    **{name: "flag" for name in """
        contiguous hold ignore-pbs no-requeue overcommit oversubscribe parsable quiet
        reboot requeue spread-job test-only use-min-nodes verbose wait""".split()},
    **{name: "optional" for name in "exclusive get-user-env no-kill".split()},
}
SBATCH_SHORT = {
    "A": "account", "a": "array", "B": "extra-node-info", "b": "begin", "C": "constraint",
    "c": "cpus-per-task", "D": "chdir", "d": "dependency", "e": "error", "F": "nodefile",
    "G": "gpus", "H": "hold", "i": "input", "J": "job-name", "k": "no-kill",
    "L": "licenses", "M": "clusters", "m": "distribution", "N": "nodes", "n": "ntasks",
    "O": "overcommit", "o": "output", "p": "partition", "Q": "quiet", "q": "qos",
    "S": "core-spec", "s": "oversubscribe", "t": "time", "V": "version", "v": "verbose",
    "W": "wait", "w": "nodelist", "x": "exclude",
}
SBATCH_OPTIONS["extra-node-info"] = "value"

SLURM_TIME = re.compile(
    r"^(UNLIMITED|INFINITE|\d+|\d+:\d{1,2}|\d+:\d{1,2}:\d{1,2}|\d+-\d+|\d+-\d+:\d{1,2}"
    r"|\d+-\d+:\d{1,2}:\d{1,2})$")
COUNT = re.compile(r"^[1-9]\d*$")
SBATCH_VALUES = {
    "time": (SLURM_TIME, "[days-]hours:minutes:seconds, minutes, ..."),
    "time-min": (SLURM_TIME, "[days-]hours:minutes:seconds, minutes, ..."),
    "nodes": (re.compile(r"^[1-9]\d*(-[1-9]\d*)?$"), "a count or min-max"),
    "ntasks": (COUNT, "a positive count"),
    "ntasks-per-node": (COUNT, "a positive count"),
    "cpus-per-task": (COUNT, "a positive count"),
    "gpus-per-node": (re.compile(r"^([\w.-]+:)?[1-9]\d*$"), "[type:]count"),
    "gpus": (re.compile(r"^([\w.-]+:)?[1-9]\d*$"), "[type:]count"),
    "array": (re.compile(r"^\d+(-\d+(:\d+)?)?(,\d+(-\d+(:\d+)?)?)*(%[1-9]\d*)?$"),
              "first-last[:step][,...][%max]"),
    "signal": (re.compile(r"^([RB]{1,2}:)?(SIG)?[A-Z0-9]+(@\d+)?$"), "[{R|B}:]sig[@seconds]"),
    "open-mode": (re.compile(r"^(append|truncate)$"), "append or truncate"),
    "mem": (re.compile(r"^\d+[KMGT]?$"), "a size such as 64G (0: all of the node's)"),
    "job-name": (re.compile(r"^\S+$"), "a name without blanks"),
}

# qsub's options (PBS Professional / OpenPBS), as #PBS directives: flag or value.
PBS_OPTIONS = {
    **{name: "value" for name in "A a C c e J j k l M m N o P p q r S u v W".split()},
    **{name: "flag" for name in "h V X z".split()},
}
PBS_VALUES = {
    "j": (re.compile(r"^(oe|eo|n)$"), "oe, eo or n"),
    "r": (re.compile(r"^[yn]$"), "y or n"),
    "k": (re.compile(r"^(o|e|oe|eo|n|od|ed|oed|eod)$"), "o, e, oe, eo, n (with d)"),
    "m": (re.compile(r"^(n|[abej]+)$"), "n or letters of abej"),
    "N": (re.compile(r"^\S{1,236}$"), "a name without blanks"),
    "J": (re.compile(r"^\d+-\d+(:\d+)?(%\d+)?$"), "first-last[:step][%max]"),
}
PBS_WALLTIME = re.compile(r"^\d+(:\d{1,2}){0,2}(\.\d+)?$")
PBS_PLACE = re.compile(r"^(free|pack|scatter|vscatter)(:(excl|shared|exclhost|group=\w+))*$"
                       r"|^(excl|shared|exclhost)$")
PBS_CHUNK_RESOURCE = re.compile(r"^[A-Za-z_][\w.-]*=[^:=+]+$")


def slurm_arguments(text):
    """The arguments of one #SBATCH line as sbatch splits them: blanks separate, quotes
    group, backslash escapes, and an unquoted '#' ends the line."""
    arguments, current, quote, escaped, in_word = [], "", "", False, False
    for ch in text:
        if escaped:
            current, escaped, in_word = current + ch, False, True
        elif ch == "\\":
            escaped = True
        elif quote:
            if ch == quote:
                quote = ""
            else:
                current += ch
        elif ch in "\"'":
            quote, in_word = ch, True
        elif ch == "#":
            break
        elif ch.isspace():
            if in_word:
                arguments.append(current)
            current, in_word = "", False
        else:
            current, in_word = current + ch, True
    if quote:
        return None
    if in_word:
        arguments.append(current)
    return arguments


def check_sbatch(where, arguments, seen, errors):
    i = 0
    while i < len(arguments):
        argument = arguments[i]
        value = None
        if argument.startswith("--"):
            name, has_value, value = argument[2:].partition("=")
            if not has_value:
                value = None
        elif re.match(r"^-[A-Za-z]", argument):
            letter = argument[1]
            if letter not in SBATCH_SHORT:
                errors.append(f"{where}: sbatch has no option -{letter}")
                return
            name = SBATCH_SHORT[letter]
            value = argument[2:] or None
        else:
            errors.append(f"{where}: '{argument}' is not an option (sbatch options start "
                          f"with - or --)")
            return
        kind = SBATCH_OPTIONS.get(name)
        if kind is None:
            errors.append(f"{where}: sbatch has no option --{name}")
            return
        if kind == "value" and value is None:
            if i + 1 < len(arguments) and not arguments[i + 1].startswith("-"):
                value = arguments[i + 1]
                i += 1
            else:
                errors.append(f"{where}: --{name} needs a value")
                return
        if kind == "flag" and value is not None:
            errors.append(f"{where}: --{name} takes no value (got '{value}')")
            return
        if value is not None and name in SBATCH_VALUES:
            pattern, form = SBATCH_VALUES[name]
            if not pattern.match(value):
                errors.append(f"{where}: --{name}={value}: expected {form}")
        if name in seen:
            errors.append(f"{where}: --{name} again (first at line {seen[name][0]}); "
                          f"the later one wins, silently")
        seen[name] = (where.rsplit(":", 1)[-1], value)
        i += 1


def check_pbs_resources(where, value, errors):
    for item in value.split(","):
        key, has_value, resource = item.partition("=")
        if not has_value or not resource:
            errors.append(f"{where}: -l {item}: expected resource=value")
            continue
        if key == "walltime" and not PBS_WALLTIME.match(resource):
            errors.append(f"{where}: walltime={resource}: expected [[hours:]minutes:]seconds")
        elif key == "place" and not PBS_PLACE.match(resource):
            errors.append(f"{where}: place={resource}: expected free, pack, scatter or "
                          f"vscatter, then :excl, :shared, :exclhost or :group=<resource>")
        elif key == "select":
            for chunk in resource.split("+"):
                parts = chunk.split(":")
                if re.match(r"^[1-9]\d*$", parts[0]):
                    parts = parts[1:]
                amounts = {}
                for part in parts:
                    if not PBS_CHUNK_RESOURCE.match(part):
                        errors.append(f"{where}: select chunk '{chunk}': '{part}' is not "
                                      f"resource=value")
                        break
                    name, _, amount = part.partition("=")
                    amounts[name] = amount
                else:
                    numbers = {k: int(v) for k, v in amounts.items()
                               if k in ("ncpus", "mpiprocs", "ompthreads") and v.isdigit()}
                    if "ncpus" in numbers and "mpiprocs" in numbers:
                        threads = numbers.get("ompthreads", 1)
                        if numbers["mpiprocs"] * threads > numbers["ncpus"]:
                            errors.append(f"{where}: select chunk '{chunk}': mpiprocs x "
                                          f"ompthreads = {numbers['mpiprocs'] * threads} "
                                          f"ranks' threads on {numbers['ncpus']} cores")


def check_pbs(where, text, errors):
    if re.search(r"(^|\s)#", text):
        errors.append(f"{where}: a comment after a #PBS directive; qsub may read it as part "
                      f"of the value: put it on a line of its own")
        return
    arguments = text.split()
    i = 0
    while i < len(arguments):
        argument = arguments[i]
        match = re.match(r"^-([A-Za-z])(.*)$", argument)
        if not match:
            errors.append(f"{where}: '{argument}' is not a qsub option")
            return
        letter, value = match.group(1), match.group(2) or None
        kind = PBS_OPTIONS.get(letter)
        if kind is None:
            errors.append(f"{where}: qsub has no option -{letter}")
            return
        if kind == "value" and value is None:
            if i + 1 < len(arguments):
                value = arguments[i + 1]
                i += 1
            else:
                errors.append(f"{where}: -{letter} needs a value")
                return
        if kind == "flag" and value is not None:
            errors.append(f"{where}: -{letter} takes no value")
            return
        if letter in PBS_VALUES and value is not None:
            pattern, form = PBS_VALUES[letter]
            if not pattern.match(value):
                errors.append(f"{where}: -{letter} {value}: expected {form}")
        if letter == "l":
            check_pbs_resources(where, value, errors)
        i += 1


def check_directives(name, text):
    """Errors in the #SBATCH / #PBS lines of one script (its name says which it wants)."""
    errors = []
    lines = text.splitlines()
    if not lines or not lines[0].startswith("#!"):
        errors.append(f"{name}:1: no #! line (sbatch and qsub run the script with it)")
    wanted = {".sbatch": "SBATCH", ".pbs": "PBS"}.get(pathlib.PurePath(name).suffix)
    first_command = None
    seen = {}
    for number, line in enumerate(lines, 1):
        where = f"{name}:{number}"
        stripped = line.strip()
        match = re.match(r"^(#{1,2})(SBATCH|PBS)(\s+|$)(.*)$", line)
        if match:
            hashes, kind, space, rest = match.groups()
            if not space or not rest.strip():
                errors.append(f"{where}: #{kind} with no option after it")
                continue
            if kind != wanted:
                errors.append(f"{where}: a #{kind} line in a {wanted or 'plain'} script"
                              + (" (sbatch reads #PBS lines too)" if kind == "PBS" else ""))
                continue
            if first_command is not None and hashes == "#":
                errors.append(f"{where}: #{kind} after the first command (line "
                              f"{first_command}): the scheduler never reads it")
                continue
            if kind == "SBATCH":
                arguments = slurm_arguments(rest)
                if arguments is None:
                    errors.append(f"{where}: unmatched quote")
                else:
                    check_sbatch(where, arguments, seen if hashes == "#" else {}, errors)
            else:
                check_pbs(where, rest, errors)
            continue
        if re.match(r"^\s*#+\s*(SBATCH|PBS)\s+-", line):
            errors.append(f"{where}: '{stripped[:40]}' looks like a directive but is not one "
                          f"(it must start the line as #SBATCH or #PBS, then a space)")
            continue
        if first_command is None and stripped and not stripped.startswith("#"):
            first_command = number
    if "gpus-per-node" in seen and "ntasks-per-node" in seen:
        gpus = re.sub(r"^.*:", "", seen["gpus-per-node"][1] or "")
        ranks = seen["ntasks-per-node"][1]
        if gpus != ranks:
            errors.append(f"{name}: --ntasks-per-node={ranks} but --gpus-per-node={gpus}: "
                          f"Volt runs one rank per GPU")
    return errors


GOOD_SBATCH = """#!/bin/bash
# a comment
#SBATCH --job-name=x          # a comment after the option
#SBATCH -N 2 --ntasks-per-node=4
#SBATCH --time=1-02:00:00
#SBATCH --array=0-5%2
#SBATCH --signal=B:USR1@90
##SBATCH --partition=gpu
set -e
srun true
"""
GOOD_PBS = """#!/bin/bash
# a comment
#PBS -N x
#PBS -l select=2:ncpus=8:mpiprocs=8:ompthreads=1
#PBS -l place=scatter:excl,walltime=01:00:00
#PBS -j oe
#PBS -r y
cd "$PBS_O_WORKDIR"
"""
# (file name, script, what the error must say)
BROKEN = [
    ("a.sbatch", GOOD_SBATCH.replace("--job-name=x", "--jobname=x"), "no option --jobname"),
    ("a.sbatch", GOOD_SBATCH.replace("-N 2", "-Y 2"), "no option -Y"),
    ("a.sbatch", GOOD_SBATCH.replace("=1-02:00:00", "=2h"), "--time=2h: expected"),
    ("a.sbatch", GOOD_SBATCH.replace("=0-5%2", "=0-5%"), "--array=0-5%: expected"),
    ("a.sbatch", GOOD_SBATCH.replace("#SBATCH --array=0-5%2", "#SBATCH --array"),
     "--array needs a value"),
    ("a.sbatch", GOOD_SBATCH.replace("=B:USR1@90", "=USR1@1m"), "--signal=USR1@1m"),
    ("a.sbatch", GOOD_SBATCH + "#SBATCH --nodes=4\n", "after the first command"),
    ("a.sbatch", GOOD_SBATCH.replace("#SBATCH --time", "# SBATCH --time"),
     "looks like a directive"),
    ("a.sbatch", GOOD_SBATCH.replace("#SBATCH --time", " #SBATCH --time"),
     "looks like a directive"),
    ("a.sbatch", GOOD_SBATCH.replace("#SBATCH --time=1-02:00:00", "#SBATCH --nodes=3"),
     "--nodes again"),
    ("a.sbatch", GOOD_SBATCH.replace("##SBATCH --partition=gpu", "##SBATCH --partitoin=gpu"),
     "no option --partitoin"),
    ("a.sbatch", GOOD_SBATCH.replace("-N 2 --ntasks-per-node=4",
                                     "-N 2 --ntasks-per-node=4 --gpus-per-node=2"),
     "one rank per GPU"),
    ("a.sbatch", GOOD_SBATCH.replace("#!/bin/bash\n", ""), "no #! line"),
    ("a.sbatch", GOOD_SBATCH.replace("#SBATCH -N 2", "#PBS -N 2"), "a #PBS line"),
    ("a.pbs", GOOD_PBS.replace("#PBS -j oe", "#PBS -j both"), "-j both: expected"),
    ("a.pbs", GOOD_PBS.replace("#PBS -r y", "#PBS -Y y"), "qsub has no option -Y"),
    ("a.pbs", GOOD_PBS.replace("walltime=01:00:00", "walltime=1h"), "walltime=1h"),
    ("a.pbs", GOOD_PBS.replace("place=scatter:excl", "place=spread"), "place=spread"),
    ("a.pbs", GOOD_PBS.replace("mpiprocs=8:ompthreads=1", "mpiprocs=8:ompthreads=2"),
     "16 ranks' threads on 8 cores"),
    ("a.pbs", GOOD_PBS.replace("#PBS -j oe", "#PBS -j oe    # one log"), "a comment after"),
    ("a.pbs", GOOD_PBS + "#PBS -q long\n", "after the first command"),
    ("a.pbs", GOOD_PBS.replace("#PBS -r y", "#PBS -r"), "-r needs a value"),
]


def self_test():
    failures = []
    for name, text in (("good.sbatch", GOOD_SBATCH), ("good.pbs", GOOD_PBS)):
        errors = check_directives(name, text)
        if errors:
            failures.append(f"a good {name} was rejected: {errors}")
    for name, text, expected in BROKEN:
        errors = check_directives(name, text)
        if not any(expected in error for error in errors):
            failures.append(f"a broken {name} was not rejected for '{expected}'; "
                            f"errors: {errors or 'none'}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs-dir", required=True, type=pathlib.Path)
    parser.add_argument("--shellcheck", help="shellcheck to run as well (severity warning)")
    parser.add_argument("--bash", default="bash")
    args = parser.parse_args()

    failures = self_test()
    if failures:
        print("the checker itself is wrong:\n  " + "\n  ".join(failures))
        return 1
    print(f"self-test: 2 good scripts accepted, {len(BROKEN)} broken ones rejected")

    scripts = sorted(p for pattern in ("*.sbatch", "*.pbs", "*.sh")
                     for p in args.jobs_dir.glob(pattern))
    if not scripts:
        print(f"no job scripts in {args.jobs_dir}")
        return 1
    errors = []
    directives = 0
    for script in scripts:
        name = f"jobs/{script.name}"
        result = subprocess.run([args.bash, "-n", str(script)], capture_output=True,
                                text=True)
        if result.returncode != 0:
            errors.append(f"{name}: bash -n: {result.stderr.strip()}")
        if args.shellcheck:
            result = subprocess.run([args.shellcheck, "--shell=bash", "--severity=warning",
                                     str(script)], capture_output=True, text=True)
            if result.returncode != 0:
                errors.append(f"{name}: shellcheck:\n{result.stdout.strip()}")
        text = script.read_text()
        directives += len(re.findall(r"^##?(?:SBATCH|PBS)\s", text, re.MULTILINE))
        errors += check_directives(name, text)
    checked = "bash -n" + (" and shellcheck" if args.shellcheck else "")
    print(f"{len(scripts)} scripts ({checked}), {directives} directive lines: "
          + ", ".join(s.name for s in scripts))
    if errors:
        print("\n".join(errors))
        return 1
    print("all well formed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
