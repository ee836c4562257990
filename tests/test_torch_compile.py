"""fastgumbel.torch under torch.compile: tau (Python float, NumPy scalar, 0-d or per-row
tensor) is a graph input, so an annealed temperature neither breaks the graph nor
recompiles per value; compiled results equal eager ones. Graph counts, not timings."""
import numpy as np
import pytest

import fastgumbel as fg

torch = pytest.importorskip("torch")
fgt = pytest.importorskip("fastgumbel.torch")
dynamo = pytest.importorskip("torch._dynamo")
dynamo_testing = pytest.importorskip("torch._dynamo.testing")

# importing Inductor/AOT runs torch.jit.script_method, which warns (torch's own code)
pytestmark = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script.*` is deprecated:DeprecationWarning")


class VAE(torch.nn.Module):
    """The Gumbel-Softmax VAE pattern: N categorical latents of K classes."""

    def __init__(self, N=6, K=5, D=12, hard=False):
        super().__init__()
        self.N, self.K, self.hard = N, K, hard
        self.enc = torch.nn.Linear(D, N * K)
        self.dec = torch.nn.Linear(N * K, D)

    def forward(self, x, tau):
        q = self.enc(x).view(-1, self.N, self.K)
        z = fgt.gumbel_softmax(q, tau, hard=self.hard)
        return self.dec(z.view(-1, self.N * self.K)), q


def annealed(step, r=3e-2):
    return np.maximum(0.5, np.exp(-r * step))       # a NumPy float64, as schedules return


TAU_KINDS = {
    "numpy": annealed,
    "float": lambda s: float(annealed(s)),
    "tensor0d": lambda s: torch.tensor(float(annealed(s))),
    "per-row": lambda s: torch.full((4, 6, 1), float(annealed(s))),
}


@pytest.mark.parametrize("kind", list(TAU_KINDS))
def test_annealed_tau_has_no_graph_break(kind):
    dynamo.reset()
    torch.manual_seed(0)
    m = VAE()
    explained = dynamo.explain(m)(torch.randn(4, 12), TAU_KINDS[kind](3))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("kind", list(TAU_KINDS))
def test_twenty_tau_values_compile_at_most_twice_with_fullgraph(kind, hard):
    dynamo.reset()
    torch.manual_seed(0)
    m = VAE(hard=hard)
    counter = dynamo_testing.CompileCounterWithBackend("aot_eager")
    compiled = torch.compile(m, backend=counter, fullgraph=True)
    x = torch.randn(4, 12)
    for step in range(20):
        rec, q = compiled(x, TAU_KINDS[kind](step))
        rec.square().mean().backward()
    assert counter.frame_count <= 2
    assert all(torch.isfinite(p.grad).all() for p in m.parameters())


def test_compiled_equals_eager_for_tau_kinds():
    dynamo.reset()
    w = torch.randn(4, 6, dtype=torch.float64)
    key = fgt.key_tensor(fg.Key(9))

    def step(x, tau):
        y = fgt.gumbel_softmax(x, tau, generator=key)
        return (y * w).sum(), y

    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    for tau in (np.float64(0.7), 0.4, torch.tensor(0.9, dtype=torch.float64),
                torch.tensor([[0.5], [1.0], [2.0], [0.3]], dtype=torch.float64)):
        le, ye = step(x, tau)
        lc, yc = compiled(x, tau)
        torch.testing.assert_close(yc, ye, rtol=1e-14, atol=1e-15)
        torch.testing.assert_close(torch.autograd.grad(lc, x)[0], torch.autograd.grad(le, x)[0],
                                   rtol=1e-12, atol=1e-14)


def test_compiled_tau_gradient_and_bad_tau():
    dynamo.reset()
    key = fgt.key_tensor(fg.Key(2))
    f = torch.compile(lambda x, t: fgt.gumbel_softmax(x, t, generator=key)[:, 0].sum(),
                      backend="aot_eager", fullgraph=True)
    x = torch.randn(3, 4, dtype=torch.float64)
    tau = torch.tensor([[0.5], [1.0], [2.0]], dtype=torch.float64, requires_grad=True)
    (gc,) = torch.autograd.grad(f(x, tau), tau)
    te = tau.detach().clone().requires_grad_()
    (ge,) = torch.autograd.grad(fgt.gumbel_softmax(x, te, generator=key)[:, 0].sum(), te)
    torch.testing.assert_close(gc, ge, rtol=1e-12, atol=1e-14)
    with pytest.raises(Exception, match="tau must be finite and > 0"):
        f(x, torch.tensor([[0.5], [0.0], [2.0]], dtype=torch.float64))
