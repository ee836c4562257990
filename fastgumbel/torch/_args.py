"""Arguments of the torch bridge, read as ``torch.nn.functional.gumbel_softmax`` reads them
and checked by :mod:`fastgumbel._checks` (one pass per call)."""
import numbers
import operator
import warnings

import numpy as np
import torch

from .. import _checks as chk

DEFAULT_EPS = 1e-10
#: logits dtypes the bridge takes (bfloat16 is computed in float32)
FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
#: NumPy dtype of the kernel's compute for each logits dtype
COMPUTE = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64),
           torch.float16: np.dtype(np.float32), torch.bfloat16: np.dtype(np.float32)}


def warn_eps(eps):
    """torch's warning for a non-default ``eps`` (it has no effect there either)."""
    if eps != DEFAULT_EPS:
        warnings.warn("`eps` parameter is deprecated and has no effect.", stacklevel=3)


def logits_dim(logits, dim):
    """Check ``logits`` (a CPU, CUDA or meta float tensor); ``dim`` normalized (0-d logits count
    as one category, as in ``torch.softmax``)."""
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor; got {type(logits).__name__}")
    if logits.dtype not in COMPUTE:
        raise TypeError(f"logits must be a float16, bfloat16, float32 or float64 tensor; got "
                        f"dtype {logits.dtype} (convert with .float())")
    if not logits.is_cpu and not logits.is_meta and not logits.is_cuda:
        raise TypeError(f"logits is on device {logits.device}; fastgumbel.torch runs on CPU "
                        "and CUDA tensors")
    if type(dim) is int and -1 <= dim < logits.dim():
        return dim % max(logits.dim(), 1)
    return chk.axis_index(dim, max(logits.dim(), 1), "dim")


def hard_flag(hard):
    return hard if type(hard) is bool else chk.flag_like(hard, "hard")


def tau_args(tau, logits, dim, read=True):
    """``(tau_t, value)``: the tensor that takes tau's gradient (or ``None``) and tau's
    value for the kernel: a float, or an array of the compute dtype in keepdims form
    (per-row temperatures, ``chk.tau_keepdims_shape``). A per-row ``tau_t`` is reshaped to
    the keepdims form (a view: its gradient reaches the caller's tensor). ``read=False``
    (under torch.func transforms, whose tensors have no values here): the value of a float
    tensor is ``None``, read later from the unwrapped tensor."""
    cdt = COMPUTE[logits.dtype]
    if type(tau) is int:        # torch's default tau=1
        tau = float(tau)
    if type(tau) is float or (isinstance(tau, numbers.Real) and not isinstance(tau, torch.Tensor)
                              and np.ndim(tau) == 0):
        return None, chk.tau_value(tau, cdt)
    if isinstance(tau, np.ndarray):
        tau = torch.from_numpy(tau)
    if not isinstance(tau, torch.Tensor):
        raise TypeError(f"tau must be a positive real number or a tensor; got {tau!r}")
    if tau.dtype == torch.bool or tau.is_complex():
        raise TypeError(f"tau must be a real tensor; got dtype {tau.dtype}")
    tau_t = tau if tau.is_floating_point() else None     # may carry a gradient or tangent
    read = read or tau_t is None
    if tau.dim() == 0:
        return tau_t, (1.0 if tau.is_meta else chk.tau_value(tau.item(), cdt) if read else None)
    keep = chk.tau_keepdims_shape(tau.shape, logits.shape, dim)
    tau_k = tau.reshape(keep)
    value = None
    if read and not tau.is_meta:
        shape = tuple(logits.shape)
        lead = shape[:dim] + shape[dim + 1:]
        value = chk.tau_batch(tau_k.detach().numpy(), len(shape), dim, lead, cdt)[0]
        value = value.reshape(keep)
    return (tau_k if tau_t is not None else None), value


def tau_graph(tau, logits, dim):
    """tau as a tensor input of a traced graph (never a constant that recompiles): a 0-d
    float64 tensor for a Python or NumPy number, a keepdims view of a per-row tensor."""
    if isinstance(tau, torch.Tensor):
        if tau.dtype == torch.bool or tau.is_complex():
            raise TypeError(f"tau must be a real tensor; got dtype {tau.dtype}")
        if tau.dim() == 0:
            return tau
        return tau.reshape(chk.tau_keepdims_shape(tau.shape, logits.shape, dim))
    if isinstance(tau, np.ndarray) and tau.ndim:
        return tau_graph(torch.from_numpy(tau), logits, dim)
    if isinstance(tau, (np.ndarray, np.generic)):     # Dynamo reads these as tensors
        return torch.as_tensor(tau, dtype=torch.float64)
    # a product keeps a Python float symbolic: Dynamo passes it as a graph input after the
    # first recompile (torch.tensor / scalar_tensor / full would guard on its value)
    return torch.ones((), dtype=torch.float64) * tau


def count(n, name):
    """``None`` -> -1 (one draw, no draws axis), else a non-negative integer-like count."""
    if n is None:
        return -1
    if not isinstance(n, numbers.Integral) and not isinstance(n, bool):
        try:
            n = operator.index(n)
        except TypeError:
            pass
    return chk.count(n, name)
