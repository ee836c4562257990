"""Root conftest: skip the doctests of framework bridges whose framework is not installed."""
import importlib.util

collect_ignore = [f"fastgumbel/{name}.py" for name in ("torch", "jax")
                  if importlib.util.find_spec(name) is None]
