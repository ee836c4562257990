"""Root conftest: skip the doctests of framework bridges whose framework is not installed."""
import importlib.util


def _absent(name):
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


collect_ignore = [f"fastgumbel/{name}.py" for name in ("torch", "jax") if _absent(name)]
