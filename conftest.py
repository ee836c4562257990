"""Root conftest: skip the doctests of modules whose optional library is not installed
(framework bridges, GPU backends; fastgumbel itself never imports them unless asked)."""
import importlib.util


def _absent(name):
    try:
        return importlib.util.find_spec(name) is None
    except (ImportError, ValueError):
        return True


collect_ignore = [f"fastgumbel/{name}" for name in ("torch", "jax") if _absent(name)]
if _absent("cupy"):
    collect_ignore.append("fastgumbel/cupy")
if _absent("numba_cuda"):
    collect_ignore.append("fastgumbel/cuda")
