"""Doctest collection of the package: skip the modules of GPU backends whose library is not
installed (they import it at the top; fastgumbel itself never does unless asked)."""
import importlib.util

collect_ignore = []
if importlib.util.find_spec("cupy") is None:
    collect_ignore.append("fastgumbel/cupy.py")
if importlib.util.find_spec("numba_cuda") is None:
    collect_ignore.append("fastgumbel/cuda.py")
