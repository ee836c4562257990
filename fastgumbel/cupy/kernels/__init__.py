"""CUDA C sources of the CuPy RawKernel backend (``fastgumbel.cupy``).

They live inside the package (not in a top-level ``kernels/``) so that the wheel ships them
as package data and ``importlib.resources.files("fastgumbel.cupy.kernels")`` finds them both in
a checkout and in an installed wheel. ``philox.cuh`` is the scalar math of
the ``fastgumbel/_scalar/`` package as ``__host__ __device__`` functions (bit-exact in its integer
work; the float work follows the same operation order, so with FMA contraction off it
matches the CPU bit for bit); ``gumbel.cu`` holds the kernels with their ``extern "C"``
entry points, suffixed by dtype (``_f32``, ``_f64``) and team size (``_t32`` ...).
"""
