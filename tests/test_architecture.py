"""The package's structure (docs/architecture.md): layers import downward only, no import
cycles, and every module and function small enough to hold in mind."""
import ast
import pathlib
import re

PKG = pathlib.Path(__file__).resolve().parent.parent / "fastgumbel"

#: Layer of each module, top (0) to bottom; a module may import its own layer or lower ones.
#: A name ending in "." covers a subpackage.
LAYERS = [
    ("fastgumbel", "fastgumbel.__main__", "fastgumbel._bench", "fastgumbel._demo",
     "fastgumbel.torch", "fastgumbel.torch.", "fastgumbel.jax", "fastgumbel.jax."),
    ("fastgumbel._api", "fastgumbel._api_grad", "fastgumbel._generator"),
    ("fastgumbel._route", "fastgumbel.dask", "fastgumbel._dask_cols", "fastgumbel._dask_graph"),
    ("fastgumbel._core", "fastgumbel._creation", "fastgumbel._discrete", "fastgumbel._rao",
     "fastgumbel._colblocks", "fastgumbel._sampling"),
    ("fastgumbel._backends", "fastgumbel.random"),
    ("fastgumbel.cpu", "fastgumbel.cpu.", "fastgumbel.cuda", "fastgumbel.cuda.",
     "fastgumbel.cupy", "fastgumbel.cupy.", "fastgumbel._gpu_common", "fastgumbel._gpu_state"),
    ("fastgumbel._arrays", "fastgumbel._checks", "fastgumbel._checks.", "fastgumbel._numba",
     "fastgumbel._scalar",
     "fastgumbel._scalar."),
]
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def module_name(path):
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules():
    return {module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer(name):
    for i, names in enumerate(LAYERS):
        for n in names:
            if name == n or (n.endswith(".") and name.startswith(n)):
                return i
    raise AssertionError(f"module {name} has no layer in tests/test_architecture.py")


def imports(name, path, known):
    """fastgumbel modules that ``name`` imports (anywhere in the file, also by
    ``importlib.import_module`` with a literal name)."""
    is_pkg = path.name == "__init__.py"
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_pkg else 0)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            targets = [f"{mod}.{a.name}" for a in node.names]   # each strips to a module
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            targets = re.findall(r"^fastgumbel(?:\.\w+)+$", node.value)
        for t in targets:
            # the longest known module that t names (a from-import may name a function)
            while t and t not in known:
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def graph():
    known = modules()
    return {name: imports(name, path, known) for name, path in known.items()}


def test_every_module_has_a_layer():
    for name in modules():
        layer(name)


def test_imports_go_downward():
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
              for a, targets in graph().items() for b in targets
              if layer(b) < layer(a)]
    assert not upward, upward


def test_no_import_cycles():
    g = graph()
    # the package's __init__ imports its submodules; a submodule importing its own
    # package's names is a cycle only through other modules, so drop parent edges
    g = {a: {b for b in t if not a.startswith(b + ".")} for a, t in g.items()}
    state = {}
    cycles = []

    def visit(n, path):
        state[n] = 1
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                cycles.append(path[path.index(m):] + [m])
            elif m not in state:
                visit(m, path + [m])
        state[n] = 2

    for n in sorted(g):
        if n not in state:
            visit(n, [n])
    assert not cycles, cycles


def test_modules_and_functions_are_small():
    big = []
    for name, path in modules().items():
        src = path.read_text()
        if src.count("\n") > MAX_MODULE_LINES:
            big.append(f"{name}: {src.count(chr(10))} lines")
        for node in ast.walk(ast.parse(src)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    big.append(f"{name}.{node.name}: {n} lines")
    assert not big, big
