"""search.QuadraticStack and search.MLPStack: the same functions as the landscapes built one by one,
the batch search over a stack equal to single searches of its landscapes bit for bit, value networks
exporting them, and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from standin import search
from standin.search import MLP, KOfN, MLPStack, Quadratic, QuadraticStack, maximize, maximize_batch
from standin.search.jit import derive_seed
from tests.test_search_kernels import random_mask

B = 6


def stacks(m: int, seed: int) -> dict:
    """One stack of every kind over ``m`` bits, with the landscapes built the ordinary way."""
    rng = np.random.default_rng(seed)
    c, h = rng.standard_normal(B), rng.standard_normal((B, m))
    J = rng.standard_normal((B, m, m))  # not symmetric, with a diagonal: folded as Quadratic folds it
    U, sigma = rng.standard_normal((B, m, 3)), rng.standard_normal(3)
    sigmas = rng.standard_normal((B, 3))
    W1, b1 = rng.standard_normal((B, 5, m)), rng.standard_normal((B, 5))
    rest_w, rest_b = (rng.standard_normal((4, 5)), rng.standard_normal((1, 4))), (rng.standard_normal(4),
                                                                                   rng.standard_normal(1))
    return {
        "dense": (QuadraticStack(c, h, J=J), [Quadratic(c[b], h[b], J[b]) for b in range(B)]),
        "low-rank": (QuadraticStack(c, h, U=U, sigma=sigma),
                     [Quadratic.low_rank(c[b], h[b], U[b], sigma) for b in range(B)]),
        "low-rank, sigma per landscape": (QuadraticStack(c, h, U=U, sigma=sigmas),
                                          [Quadratic.low_rank(c[b], h[b], U[b], sigmas[b]) for b in range(B)]),
        "mlp": (MLPStack(W1, b1, rest_w, rest_b),
                [MLP((W1[b], *rest_w), (b1[b], *rest_b)) for b in range(B)]),
        "mlp, shared first layer": (MLPStack(W1[0], b1, rest_w, rest_b),
                                    [MLP((W1[0], *rest_w), (b1[b], *rest_b)) for b in range(B)]),
        "mlp, one layer": (MLPStack(W1[:, :1], b1[:, :1]), [MLP((W1[b, :1],), (b1[b, :1],)) for b in range(B)]),
    }


@pytest.mark.parametrize("kind", list(stacks(4, 0)))
def test_a_stack_is_the_landscapes_built_one_by_one(kind):
    m = 9
    stack, singles = stacks(m, 1)[kind]
    assert len(stack) == B and stack.m == m and len(stack[1:4]) == 3
    X = np.random.default_rng(2).integers(0, 2, size=(B, m))
    want = np.array([q(X[b]) for b, q in enumerate(singles)])
    np.testing.assert_allclose(stack(X), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose([stack[b](X[b]) for b in range(B)], want, rtol=1e-12, atol=1e-12)
    assert stack[-1](X[-1]) == pytest.approx(want[-1], rel=1e-12)
    with pytest.raises(IndexError):
        stack[B]


@pytest.mark.parametrize("kind", list(stacks(4, 0)))
@pytest.mark.parametrize("method, opts", [("anneal", {}), ("anneal", {"restarts": 2, "t_hot": 3.0, "t_cold": 0.1}),
                                          ("greedy", {}), ("tabu", {"restarts": 2})])
def test_a_batch_search_of_a_stack_equals_single_searches_of_its_landscapes(kind, method, opts):
    space = KOfN(10, 3)
    stack, _ = stacks(space.m, 3)[kind]
    for masks in (None, [random_mask(space, 5)] * B):
        want = [maximize(stack[b], space, method, 200, seed=derive_seed(4, b), mask=None if masks is None else
                         masks[b], **opts) for b in range(B)]
        for workers in (1, 2):
            got = maximize_batch(stack, space, method, 200, seed=4, masks=masks, workers=workers, **opts)
            np.testing.assert_array_equal(got.scores, [w.score for w in want])
            for g, w in zip(got, want, strict=True):
                np.testing.assert_array_equal(g.action, w.action)
                assert (g.evaluations, g.trace[1].tolist()) == (w.evaluations, w.trace[1].tolist())
        # and the scores are the landscapes' values at the actions found
        X = np.stack([g.action for g in got])
        np.testing.assert_allclose(stack(X), got.scores, rtol=1e-9, atol=1e-9)
    # methods that can't be fused search the landscapes one by one
    got = maximize_batch(stack, space, "random", 50, seed=4)
    assert [g.score for g in got] == [maximize(stack[b], space, "random", 50, seed=derive_seed(4, b)).score
                                      for b in range(B)]


def test_from_factors_picks_the_form_a_single_landscape_gets():
    rng = np.random.default_rng(0)
    for m, r in ((8, 4), (40, 4), (12, 12)):
        h, U, sigma = rng.standard_normal((B, m)), rng.standard_normal((B, m, r)), rng.standard_normal(r)
        stack = QuadraticStack.from_factors(np.zeros(B), h, U, sigma)
        single = Quadratic.from_factors(0.0, h[0], U[0], sigma)
        assert stack.form == ("dense" if single.J is not None else "low-rank")
        X = rng.integers(0, 2, size=(B, m))
        np.testing.assert_allclose(stack(X), [Quadratic.low_rank(0.0, h[b], U[b], sigma)(X[b]) for b in range(B)],
                                   rtol=1e-10, atol=1e-10)


def test_a_stack_of_read_only_arrays_is_searched_from_writeable_copies():
    rng = np.random.default_rng(1)
    h, U, sigma = rng.standard_normal((B, 7)), rng.standard_normal((B, 7, 2)), rng.standard_normal(2)
    for a in (h, U, sigma):
        a.flags.writeable = False
    stack = QuadraticStack(np.zeros(B), h, U=U, sigma=sigma)  # the kernels' keys are checked in the tests
    got = maximize_batch(stack, 7, "anneal", 100, seed=0)
    assert got.scores.tolist() == [maximize(stack[b], 7, "anneal", 100, seed=derive_seed(0, b)).score
                                   for b in range(B)]


@pytest.mark.parametrize("make, match", [
    (lambda: QuadraticStack(np.zeros(2), np.zeros((2, 3))), "give J .* or U and sigma"),
    (lambda: QuadraticStack(np.zeros(2), np.zeros((2, 3)), J=np.zeros((2, 3, 3)), U=np.zeros((2, 3, 1)),
                            sigma=[1.0]), "one of them"),
    (lambda: QuadraticStack(np.zeros(3), np.zeros((2, 3)), J=np.zeros((2, 3, 3))), "c must have shape"),
    (lambda: QuadraticStack(np.zeros(2), np.zeros((2, 3)), J=np.zeros((2, 3, 4))), "J must have shape"),
    (lambda: QuadraticStack(np.zeros(2), np.zeros(3), J=np.zeros((2, 3, 3))), "h must have 2 dimensions"),
    (lambda: QuadraticStack(np.zeros(2), np.zeros((2, 3)), U=np.zeros((2, 3, 2))), "needs sigma"),
    (lambda: QuadraticStack(np.zeros(2), np.zeros((2, 3)), U=np.zeros((2, 3, 2)), sigma=[1.0]), "sigma must"),
    (lambda: QuadraticStack(np.zeros(2), np.full((2, 3), np.nan), J=np.zeros((2, 3, 3))), "finite"),
    (lambda: MLPStack(np.zeros((2, 4, 3)), np.zeros((2, 5))), "need W1"),
    (lambda: MLPStack(np.zeros((2, 4, 3)), np.zeros((2, 4)), (np.zeros((2, 4)),), (np.zeros(2),)), "one output"),
])
def test_bad_stacks_are_refused_with_a_clear_error(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_value_networks_export_stacks_equal_to_their_outputs():
    from standin.agents.export import mlp_landscape, mlp_stack

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3 + 6, 8), nn.ReLU(), nn.Linear(8, 1)).double()
    obs = np.random.default_rng(0).standard_normal((4, 3))
    stack = mlp_stack(net, obs)
    assert isinstance(stack, search.MLPStack) and len(stack) == 4
    X = np.random.default_rng(1).integers(0, 2, size=(4, 6)).astype(np.float64)
    with torch.no_grad():
        want = net(torch.cat([torch.from_numpy(obs), torch.from_numpy(X)], dim=1)).squeeze(-1).numpy()
    np.testing.assert_allclose(stack(X), want, rtol=1e-10)
    np.testing.assert_allclose([mlp_landscape(net, obs[b])(X[b]) for b in range(4)], want, rtol=1e-10)
