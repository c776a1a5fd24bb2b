"""tests/jobs/check_spack_package.py — jobs/spack/package.py agrees with the CMake build.

Spack is not needed (nor imported): the recipe is read with Python's ast. It must compile,
and its class must
  * derive from CMakePackage and CudaPackage, have a version and a git or url address;
  * declare the variants nccl and papi (cuda comes from CudaPackage);
  * depend on mpi, hdf5+mpi, blas, libyaml, zlib-api (or zlib), papi when +papi, nccl
    when +nccl, and conflict +nccl with ~cuda;
  * in cmake_args(), pass only -DVOLT_... options that cmake/VoltOptions.cmake declares,
    with values those options take (STRINGS lists, or a boolean for option()), never AUTO
    for VOLT_WITH_* (a Spack build is decided by its spec), and set every VOLT_WITH_*
    option VoltOptions.cmake declares; set CMAKE_CUDA_ARCHITECTURES and BLA_VENDOR.
So renaming or adding a VOLT_WITH_* option breaks this test until the recipe follows.

What cmake_args() passes is read from its calls self.define(NAME, VALUE) and
self.define_from_variant(NAME, VARIANT), and from "-DNAME=VALUE" strings. A VALUE is
known when it is a literal, a bool expression (spec.satisfies(...), "+x" in spec, not,
and, or), or a choice between those (a if c else b); a boolean variant gives ON or OFF.

Then, when the recipe passed, a self-test feeds the checker broken copies of it (a
renamed option, AUTO, a value the option does not take, a missing VOLT_WITH_*, a missing
dependency, variant or conflict, a syntax error) and fails unless each is rejected.
  check_spack_package.py --package jobs/spack/package.py --options cmake/VoltOptions.cmake
"""
import argparse
import ast
import pathlib
import re
import sys

BOOL_VALUES = {"ON", "OFF", "TRUE", "FALSE", "YES", "NO", "Y", "N", "1", "0"}
# (dependency name or alternatives, variants it must have, the when= it must carry)
REQUIRED_DEPENDENCIES = [
    (("mpi",), "", None),
    (("hdf5",), "+mpi", None),
    (("blas",), "", None),
    (("libyaml",), "", None),
    (("zlib-api", "zlib"), "", None),
    (("papi",), "", "+papi"),
    (("nccl",), "", "+nccl"),
]
REQUIRED_VARIANTS = ("nccl", "papi")


def cmake_options(text):
    """{name: accepted values (a set, or None for any string)} of VoltOptions.cmake."""
    text = re.sub(r"#[^\n]*", "", text)
    options = {}
    for match in re.finditer(r"\boption\(\s*(VOLT_\w+)\b", text):
        options[match.group(1)] = set(BOOL_VALUES)
    for match in re.finditer(r"\bset\(\s*(VOLT_\w+)\s+(?:\"[^\"]*\"|\S+)\s+CACHE\s+(\w+)",
                             text):
        name, kind = match.groups()
        options[name] = set(BOOL_VALUES) if kind == "BOOL" else None
    for match in re.finditer(r"set_property\(\s*CACHE\s+(VOLT_\w+)\s+PROPERTY\s+STRINGS"
                             r"\s+([^)]*)\)", text):
        options[match.group(1)] = {v.strip('"') for v in match.group(2).split()}
    return options


def call_name(node):
    """'define' for self.define(...), define(...), self.pkg.define(...); else None."""
    if not isinstance(node, ast.Call):
        return None
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return None


def literal(node):
    try:
        return ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError):
        return None


def is_bool_expression(node):
    if isinstance(node, ast.Constant) and isinstance(node.value, bool):
        return True
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return True
    if isinstance(node, ast.BoolOp):
        return all(is_bool_expression(v) for v in node.values)
    if isinstance(node, ast.Compare) and all(isinstance(op, (ast.In, ast.NotIn))
                                             for op in node.ops):
        return True
    return call_name(node) == "satisfies"


def values_of(node):
    """The CMake values a define() value can take, or None when that cannot be told."""
    if isinstance(node, ast.IfExp):
        a, b = values_of(node.body), values_of(node.orelse)
        return None if a is None or b is None else a | b
    if is_bool_expression(node):
        value = literal(node)
        if isinstance(value, bool):
            return {"ON" if value else "OFF"}
        return {"ON", "OFF"}
    value = literal(node)
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return {str(value)}
    return None


def find_class(tree):
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")
                     for b in node.bases}
            if "CMakePackage" in bases:
                return node, bases
    return None, set()


def directive_calls(cls):
    """Every call in the class body outside its methods (directives, also in for/with)."""
    calls = []

    def visit(statements):
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
                calls.append(statement.value)
            for field in ("body", "orelse"):
                visit(getattr(statement, field, []) or [])
    visit(cls.body)
    return calls


def keyword(call, name):
    for k in call.keywords:
        if k.arg == name:
            return literal(k.value)
    return None


def check(package_text, options_text):
    """The errors in a recipe, and a summary of what was compared."""
    errors, summary = [], []
    try:
        compile(package_text, "package.py", "exec")
        tree = ast.parse(package_text)
    except SyntaxError as e:
        return [f"package.py does not compile: {e.msg} (line {e.lineno})"], summary
    cls, bases = find_class(tree)
    if cls is None:
        return ["no class deriving from CMakePackage"], summary
    if "CudaPackage" not in bases:
        errors.append(f"class {cls.name} does not derive from CudaPackage (the cuda and "
                      f"cuda_arch variants)")
    attributes = {t.id for node in cls.body if isinstance(node, ast.Assign)
                  for t in node.targets if isinstance(t, ast.Name)}
    if not attributes & {"git", "url"}:
        errors.append("neither git nor url: Spack has nowhere to fetch from")

    calls = directive_calls(cls)
    by_name = {}
    for call in calls:
        by_name.setdefault(call_name(call), []).append(call)
    if not by_name.get("version"):
        errors.append("no version()")
    variants = {literal(c.args[0]): c for c in by_name.get("variant", []) if c.args}
    for name in REQUIRED_VARIANTS:
        if name not in variants:
            errors.append(f"no variant('{name}')")
    boolean_variants = {"cuda"} | {name for name, c in variants.items()
                                   if isinstance(keyword(c, "default"), bool)}
    dependencies = []
    for call in by_name.get("depends_on", []):
        spec = literal(call.args[0]) if call.args else None
        if isinstance(spec, str):
            dependencies.append((spec, keyword(call, "when")))
    for names, wanted_variants, wanted_when in REQUIRED_DEPENDENCIES:
        found = [(spec, when) for spec, when in dependencies
                 if re.match(r"^([\w-]+)", spec).group(1) in names]
        if not found:
            errors.append(f"no depends_on('{names[0]}{wanted_variants}')")
        elif not any(wanted_variants in spec and (wanted_when is None or when == wanted_when)
                     for spec, when in found):
            errors.append(f"depends_on('{names[0]}{wanted_variants}'"
                          + (f", when='{wanted_when}')" if wanted_when else ")")
                          + f" not as required: {found}")
    conflicts = [(literal(c.args[0]) if c.args else None, keyword(c, "when"))
                 for c in by_name.get("conflicts", [])]
    if ("+nccl", "~cuda") not in conflicts:
        errors.append("no conflicts('+nccl', when='~cuda')")

    method = next((n for n in cls.body
                   if isinstance(n, ast.FunctionDef) and n.name == "cmake_args"), None)
    if method is None:
        return errors + ["no cmake_args() method"], summary
    defined = {}  # name -> set of values, or None when unknown
    for node in ast.walk(method):
        name = call_name(node)
        if name in ("define", "define_from_variant") and node.args:
            variable = literal(node.args[0])
            if not isinstance(variable, str):
                errors.append(f"line {node.lineno}: {name}() of a name this check cannot "
                              f"read")
                continue
            if name == "define":
                values = values_of(node.args[1]) if len(node.args) > 1 else None
            else:
                variant = literal(node.args[1]) if len(node.args) > 1 else variable.lower()
                if variant not in variants and variant != "cuda":
                    errors.append(f"line {node.lineno}: define_from_variant({variable}) "
                                  f"of '{variant}', which is not a variant")
                values = {"ON", "OFF"} if variant in boolean_variants else None
            defined.setdefault(variable, set())
            if values is None or defined[variable] is None:
                defined[variable] = None
            else:
                defined[variable] |= values
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in re.finditer(r"-D(\w+)(?::\w+)?=(\S*)", node.value):
                defined.setdefault(match.group(1), set()).add(match.group(2))

    options = cmake_options(options_text)
    for variable, values in sorted(defined.items()):
        if not variable.startswith("VOLT_"):
            continue
        if variable not in options:
            errors.append(f"cmake_args() sets {variable}, which cmake/VoltOptions.cmake "
                          f"does not declare (declared: {', '.join(sorted(options))})")
            continue
        if values is None:
            errors.append(f"cmake_args() sets {variable} to a value this check cannot "
                          f"read: use a literal, a bool or define_from_variant")
            continue
        accepted = options[variable]
        wrong = {v for v in values if accepted is not None and v.upper() not in accepted
                 and v not in accepted}
        if wrong:
            errors.append(f"{variable}={'/'.join(sorted(wrong))}: VoltOptions.cmake takes "
                          f"{', '.join(sorted(accepted))}")
        if variable.startswith("VOLT_WITH_") and values - {"ON", "OFF"}:
            errors.append(f"{variable} may be {'/'.join(sorted(values - {'ON', 'OFF'}))}: "
                          f"a Spack build passes ON or OFF, never what the machine has")
        summary.append(f"{variable}={'/'.join(sorted(values))}")
    for variable in sorted(options):
        if variable.startswith("VOLT_WITH_") and variable not in defined:
            errors.append(f"cmake_args() does not set {variable} (declared in "
                          f"cmake/VoltOptions.cmake): the build would take its default, AUTO")
    for variable in ("CMAKE_CUDA_ARCHITECTURES", "BLA_VENDOR"):
        if variable not in defined:
            errors.append(f"cmake_args() does not set {variable}")
    summary.insert(0, f"{len(variants)} variants ({', '.join(sorted(variants))}), "
                      f"{len(dependencies)} depends_on, {len(conflicts)} conflicts")
    return errors, summary


def mutations(text):
    """(what is broken, the broken recipe, what the error must say)"""
    def replace(old, new):
        if old not in text:
            raise SystemExit(f"self-test: the recipe no longer contains {old!r}; update the "
                             f"self-test of {__file__}")
        return text.replace(old, new, 1)
    return [
        ("a renamed option", replace('"VOLT_WITH_PAPI", "papi"', '"VOLT_WITH_PAPY", "papi"'),
         "sets VOLT_WITH_PAPY, which"),
        ("AUTO", replace('self.define("VOLT_NATIVE", False)',
                         'self.define("VOLT_WITH_CUDA", "AUTO")'),
         "VOLT_WITH_CUDA may be AUTO"),
        ("a value the option does not take", replace('self.define("VOLT_NATIVE", False)',
                                                      'self.define("VOLT_NATIVE", "fast")'),
         "VOLT_NATIVE=fast"),
        ("a VOLT_WITH_* left out",
         replace('self.define_from_variant("VOLT_WITH_PAPI", "papi"),', ""),
         "does not set VOLT_WITH_PAPI"),
        ("a dependency left out", replace('depends_on("hdf5+mpi")', 'depends_on("hdf5")'),
         "depends_on('hdf5+mpi')"),
        ("a variant left out", replace('variant("papi"', 'variant("counters"'),
         "no variant('papi')"),
        ("the conflict left out", replace('conflicts("+nccl", when="~cuda"',
                                          'conflicts("+nccl", when="~papi"'),
         "no conflicts('+nccl'"),
        ("a syntax error", replace("def cmake_args(self):", "def cmake_args(self)"),
         "does not compile"),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--package", required=True, type=pathlib.Path)
    parser.add_argument("--options", required=True, type=pathlib.Path)
    args = parser.parse_args()
    package_text = args.package.read_text()
    options_text = args.options.read_text()

    errors, summary = check(package_text, options_text)
    options = cmake_options(options_text)
    print(f"{args.package.name}: " + "; ".join(summary))
    print("VoltOptions.cmake declares: " + ", ".join(
        f"{n} ({'/'.join(sorted(v)) if v and v != BOOL_VALUES else 'bool' if v else 'any'})"
        for n, v in sorted(options.items())))
    print("\n".join(errors) if errors else "the recipe and the CMake options agree")

    # the checker itself: broken copies of the recipe must not pass (meaningful only when
    # the recipe passes, since each copy breaks one thing of a good recipe)
    if errors:
        return 1
    failures = []
    for what, broken, expected in mutations(package_text):
        broken_errors, _ = check(broken, options_text)
        if not any(expected in e for e in broken_errors):
            failures.append(f"{what}: expected an error saying '{expected}', got "
                            f"{broken_errors or 'none'}")
    if failures:
        print("self-test: the checker let broken recipes through:\n  "
              + "\n  ".join(failures))
        return 1
    print(f"self-test: {len(mutations(package_text))} broken copies of the recipe rejected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
