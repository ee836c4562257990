"""Bad input raises TypeError / ValueError naming the argument and the value."""
import numpy as np
import pytest
from numpy.exceptions import AxisError

import fastgumbel as fg

X = np.zeros((3, 4), np.float32)
RO = np.zeros((3, 4), np.float32)
RO.flags.writeable = False

CASES = [
    (lambda: fg.gumbel_softmax(X, 0.0), ValueError, "tau must be a finite number > 0; got 0.0"),
    (lambda: fg.gumbel_softmax(X, -1), ValueError, "tau must be .* got -1"),
    (lambda: fg.gumbel_softmax(X, float("nan")), ValueError, "tau must be .* got nan"),
    (lambda: fg.gumbel_softmax(X, float("inf")), ValueError, "tau must be .* got inf"),
    (lambda: fg.gumbel_softmax(X, 1e-50), ValueError, r"tau=1e-50 is not a positive normal float32"),
    (lambda: fg.gumbel_softmax(X, 1e299), ValueError, r"tau=1e\+299 is not a positive normal float32"),
    (lambda: fg.gumbel_softmax(X, np.array(1e299)), ValueError, r"tau=array\(1\.e\+299\) is not a positive normal float32"),
    (lambda: fg.gumbel_softmax(X, "hot"), TypeError, "tau must be a positive real number; got 'hot'"),
    (lambda: fg.gumbel_softmax(X, np.ones(2)), ValueError, r"tau of shape \(2,\) does not broadcast to the rows of the logits"),
    (lambda: fg.gumbel_softmax(X, True), TypeError, "tau must be a positive real number; got True"),
    (lambda: fg.gumbel_softmax(np.zeros((2, 3), np.int64)), TypeError, "logits must be a float16, float32 or float64 array; got integer dtype int64"),
    (lambda: fg.gumbel_max(np.zeros(3, np.complex64)), TypeError, "logits .* got complex dtype complex64"),
    (lambda: fg.gumbel_max(np.zeros(3, bool)), TypeError, "logits .* got boolean dtype bool"),
    (lambda: fg.gumbel_softmax(X, axis=2), AxisError, "axis=2 is out of range for an array of 2 dimension"),
    (lambda: fg.gumbel_max(X, axis=-3), AxisError, "axis=-3 is out of range"),
    (lambda: fg.gumbel_max(X, axis=1.0), TypeError, "axis must be an integer; got 1.0"),
    (lambda: fg.gumbel_softmax(np.float32(1.0)), ValueError, "logits must have at least one dimension"),
    (lambda: fg.gumbel_softmax(X, hard=1), TypeError, "hard must be True or False; got 1"),
    (lambda: fg.gumbel_softmax(X, out=np.empty((4, 3), np.float32)), ValueError, r"out has shape \(4, 3\); expected \(3, 4\)"),
    (lambda: fg.gumbel_softmax(X, out=np.empty((3, 4))), TypeError, "out has dtype float64; expected float32"),
    (lambda: fg.gumbel_softmax(X, out=[[0.0] * 4] * 3), TypeError, "out must be a numpy.ndarray; got list"),
    (lambda: fg.gumbel_max(X, out=np.empty(3, np.int32)), TypeError, "out has dtype int32; expected int64"),
    (lambda: fg.gumbel_topk(X, 5), ValueError, r"k=5 exceeds the number of categories \(4\)"),
    (lambda: fg.gumbel_topk(X, -1), ValueError, "k must be >= 0; got -1"),
    (lambda: fg.gumbel_topk(X, 1.5), TypeError, "k must be a non-negative integer; got 1.5"),
    (lambda: fg.categorical(X, -2), ValueError, "n must be >= 0; got -2"),
    (lambda: fg.categorical(X, 3, method="alias"), ValueError, "method must be one of 'gumbel'.*got 'alias'"),
    (lambda: fg.multinomial(X, -1), ValueError, "n must be >= 0; got -1"),
    (lambda: fg.gumbel((2, -3)), ValueError, r"size must not contain negative dimensions; got \(2, -3\)"),
    (lambda: fg.gumbel(-1), ValueError, "size must not contain negative dimensions; got -1"),
    (lambda: fg.gumbel(2.5), TypeError, "size must be an int or a tuple of ints; got 2.5"),
    (lambda: fg.gumbel(3, scale=0), ValueError, "scale must be finite and > 0; got 0"),
    (lambda: fg.gumbel(3, scale=-1.0), ValueError, "scale must be finite and > 0; got -1.0"),
    (lambda: fg.gumbel(3, scale=np.nan), ValueError, "scale must be finite and > 0; got nan"),
    (lambda: fg.gumbel(3, loc=np.inf), ValueError, "loc must be finite; got inf"),
    (lambda: fg.gumbel(3, dtype=np.int32), TypeError, "dtype must be numpy.float16, float32 or float64; got int32"),
    (lambda: fg.uniform(3, precision="ultra"), ValueError, "precision must be 'default' or 'high'; got 'ultra'"),
    (lambda: fg.gumbel(3, rng=-5), ValueError, r"rng must be an integer in \[0, 2\*\*64\), got -5"),
    (lambda: fg.gumbel(3, rng=2.0), TypeError, "rng must be None, an int seed.*got 2.0"),
    (lambda: fg.gumbel_max(X, backend="gpu"), ValueError, "backend must be one of 'auto', 'cpu', 'numba-cuda', 'cupy'; got 'gpu'"),
    (lambda: fg.gumbel_softmax_backward(X, 1.0), ValueError, "give exactly one of y_soft="),
    (lambda: fg.gumbel_softmax_backward(X, 1.0, y_soft=X, logits=X), ValueError, "give exactly one"),
    (lambda: fg.gumbel_softmax_backward(X, 1.0, logits=X), ValueError, "recompute mode needs the replayable rng.*got None"),
    (lambda: fg.gumbel_softmax_backward(X, 1.0, logits=X, rng=fg.default_rng(1)), ValueError, "recompute mode needs"),
    (lambda: fg.gumbel_softmax_backward(X, 1.0, y_soft=X[:2]), ValueError, r"y_soft has shape \(2, 4\); grad has shape \(3, 4\)"),
    (lambda: fg.gumbel_softmax_backward(X, 0.0, y_soft=X), ValueError, "tau must be"),
    (lambda: fg.concrete_log_prob(X, X, -1.0), ValueError, "tau must be"),
    (lambda: fg.concrete_log_prob(X, np.full((3, 4), np.inf), 1.0), ValueError, r"logits contain \+inf"),
    (lambda: fg.gumbel_max(np.zeros(3, np.longdouble)), TypeError, "logits .* got unsupported float dtype float128"),
    (lambda: fg.gumbel_softmax(X, out=RO), ValueError, "out is read-only"),
    (lambda: fg.gumbel(3, out=[0.0] * 3), TypeError, "out must be a numpy.ndarray; got list"),
    (lambda: fg.uniform(3, like=5), TypeError, r"like must be an array \(NumPy, or a DLPack tensor\); got int"),
    (lambda: fg.gumbel(None, loc=np.zeros(3), out=True), TypeError, "out must be a numpy.ndarray; got bool"),
    (lambda: fg.gumbel((), out=np.zeros(1)), ValueError, r"out has shape \(1,\); expected \(\)"),
    (lambda: fg.multinomial(X, 2**64), ValueError, r"n must be < 2\*\*63; got 18446744073709551616"),
    (lambda: fg.gumbel_topk(X, 2**63), ValueError, r"k must be < 2\*\*63"),
    (lambda: fg.categorical(np.zeros((4, 3)), 2**62), ValueError, r"rows \* n = 18446744073709551616 exceeds the 2\*\*64 noise rows"),
    (lambda: fg.categorical(X, 2, method=["gumbel"]), ValueError, "method must be one of 'gumbel'"),
    (lambda: fg.gumbel_softmax_backward(X, 1.0, y_soft=X, precision="x"), ValueError, "precision must be 'default' or 'high'; got 'x'"),
    (lambda: fg.gumbel_softmax_backward(X[:0], 1.0, logits=X[:0]), ValueError, "recompute mode needs"),
    (lambda: fg.gumbel_softmax_backward(np.full((3, 4), 1e300), 1.0, y_soft=X), ValueError, r"grad has values outside the float32 range of the forward pass \(largest magnitude 1e\+300\)"),
]


@pytest.mark.parametrize("call,err,msg", CASES, ids=[f"{i}-{c[2][:40]}" for i, c in enumerate(CASES)])
def test_error_messages(call, err, msg):
    with pytest.raises(err, match=msg):
        call()


def test_cuda_arrays_need_a_gpu_backend():
    class FakeDeviceArray:
        __cuda_array_interface__ = {}

    with pytest.raises(ValueError, match="backend='cpu' cannot take CUDA device arrays"):
        fg.gumbel_max(FakeDeviceArray(), backend="cpu")
