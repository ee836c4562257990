"""For the lent GPU machine only (bench/gpu/device_check.sh puts this folder on PYTHONPATH).

numba-cuda 0.30.4 registers an overload for ``np.row_stack`` while it loads its typing
registries, and NumPy 2.5 removed that alias of ``np.vstack``: there every CUDA kernel
compile fails with ``AttributeError: module 'numpy' has no attribute 'row_stack'``. The
device image pairs those two versions, so the check restores the alias before anything
imports numba. fastgumbel itself does not patch NumPy; its ``cuda`` extra asks for
``numpy<2.5``.
"""
import numpy

if not hasattr(numpy, "row_stack"):
    numpy.row_stack = numpy.vstack
