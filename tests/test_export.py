"""agents.export: torch value networks become search landscapes that agree with the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from standin import search
from standin.agents.export import MeanEnsemble, mean_landscape, mean_stack, mlp_landscape
from standin.search.jit import derive_seed


@pytest.mark.parametrize("hidden", [(), (16,), (16, 8)])
def test_mlp_landscape_matches_the_network_on_every_action(hidden):
    torch.manual_seed(0)
    S, m = 5, 6
    sizes = [S + m, *hidden, 1]
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    net = nn.Sequential(*layers[:-1]).double()
    obs = np.random.default_rng(1).normal(size=S)
    land = mlp_landscape(net, obs)
    X = np.array(np.meshgrid(*[[0, 1]] * m, indexing="ij")).reshape(m, -1).T.astype(np.int8)
    with torch.no_grad():
        want = net(torch.cat([torch.as_tensor(obs).expand(len(X), S), torch.as_tensor(X).double()], 1))[:, 0]
    np.testing.assert_allclose(land(X), want.numpy(), rtol=1e-12, atol=1e-12)
    best = search.maximize(land, search.Binary(m), "exhaustive", None, seed=0)
    assert best.score == pytest.approx(float(want.max()), rel=1e-12, abs=1e-12)


def test_mlp_landscape_rejects_other_architectures():
    with pytest.raises(ValueError, match="alternate nn.Linear and nn.ReLU"):
        mlp_landscape(nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1)), np.zeros(2))
    with pytest.raises(ValueError, match="one output"):
        mlp_landscape(nn.Sequential(nn.Linear(4, 2)), np.zeros(2))
    with pytest.raises(ValueError, match="end with an nn.Linear"):
        mlp_landscape(nn.Sequential(nn.Linear(4, 1), nn.ReLU()), np.zeros(2))


def _random_mlp(rng, m, hidden):
    sizes = [m, *hidden, 1]
    return search.MLP(tuple(rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)),
                      tuple(rng.normal(size=sizes[i + 1]) for i in range(len(sizes) - 1)))


def _random_quadratic(rng, m, form):
    h = rng.normal(size=m)
    if form == "dense":
        return search.Quadratic(0.5, h, rng.normal(size=(m, m)))
    r = int(rng.integers(1, 4))
    return search.Quadratic.low_rank(-0.2, h, rng.normal(size=(m, r)), rng.normal(size=r))


@pytest.mark.parametrize("kind", ["low-rank", "dense", "mixed", "mlp0", "mlp1", "mlp2"])
def test_mean_landscape_is_the_mean_of_its_members_on_every_action(kind):
    rng = np.random.default_rng(7)
    m, K = 5, 3
    if kind.startswith("mlp"):
        hidden = [(), (6,), (6, 4)][int(kind[-1])]
        members = [_random_mlp(rng, m, hidden) for _ in range(K)]
    else:
        forms = {"low-rank": ["low-rank"] * K, "dense": ["dense"] * K, "mixed": ["dense", "low-rank", "low-rank"]}[kind]
        members = [_random_quadratic(rng, m, f) for f in forms]
    merged = mean_landscape(members)
    assert type(merged) is type(members[0])
    X = np.array(np.meshgrid(*[[0, 1]] * m, indexing="ij")).reshape(m, -1).T.astype(np.int8)
    want = np.mean([[q(x) for x in X] for q in members], axis=0)
    np.testing.assert_allclose(merged(X), want, rtol=1e-12, atol=1e-12)
    best = search.maximize(merged, search.Binary(m), "exhaustive", None, seed=0)
    assert best.score == pytest.approx(float(want.max()), abs=1e-12)
    assert mean_landscape(members[:1]) is members[0]


def test_mean_landscape_rejects_mixed_kinds_and_depths():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="quadratics or MLPs of one kind"):
        mean_landscape([_random_quadratic(rng, 4, "dense"), _random_mlp(rng, 4, (3,))])
    with pytest.raises(ValueError, match="different depths"):
        mean_landscape([_random_mlp(rng, 4, (3,)), _random_mlp(rng, 4, (3, 2))])
    with pytest.raises(ValueError, match="at least one"):
        mean_landscape([])


def _random_stack(rng, B, m, kind):
    """A stack of ``B`` landscapes: ``dense`` or ``low-rank`` quadratics, or MLPs with hidden widths
    ``mlp0``/``mlp1``/``mlp2``, whose first layer is per state (``-own``) or shared."""
    if kind in ("dense", "low-rank"):
        h = rng.normal(size=(B, m))
        if kind == "dense":
            return search.QuadraticStack(rng.normal(size=B), h, J=rng.normal(size=(B, m, m)))
        r = int(rng.integers(1, 4))
        return search.QuadraticStack(rng.normal(size=B), h, U=rng.normal(size=(B, m, r)), sigma=rng.normal(size=(B, r)))
    hidden = [(), (6,), (6, 4)][int(kind[3])]
    H, rest = (hidden or (1,))[0], [*hidden[1:], 1] if hidden else []
    W1 = rng.normal(size=(B, H, m) if kind.endswith("-own") else (H, m))
    sizes = [H, *rest]
    return search.MLPStack(W1, rng.normal(size=(B, H)),
                           tuple(rng.normal(size=(sizes[i + 1], sizes[i])) for i in range(len(sizes) - 1)),
                           tuple(rng.normal(size=sizes[i + 1]) for i in range(len(sizes) - 1)))


@pytest.mark.parametrize("kinds", [["dense"] * 3, ["low-rank"] * 3, ["mlp0"] * 3, ["mlp1"] * 3, ["mlp2"] * 2,
                                   ["mlp1", "mlp1-own", "mlp1"], ["mlp2-own"] * 2, ["mlp0-own", "mlp0"]])
def test_mean_stack_is_the_mean_of_its_members_landscape_by_landscape(kinds):
    rng = np.random.default_rng(len(kinds) + 7 * len("".join(kinds)))
    B, m = 4, 5
    stacks = [_random_stack(rng, B, m, kind) for kind in kinds]
    merged = mean_stack(stacks)
    assert type(merged) is type(stacks[0]) and len(merged) == B
    X = np.array(np.meshgrid(*[[0, 1]] * m, indexing="ij")).reshape(m, -1).T.astype(np.int8)
    for b in range(B):
        want = np.mean([[s[b](x) for x in X] for s in stacks], axis=0)  # each member on its own
        np.testing.assert_allclose(merged[b](X), want, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(mean_landscape([s[b] for s in stacks])(X), want, rtol=1e-12, atol=1e-12)
    # the merged stack is searched in one fused call, as each of its landscapes alone
    results = search.maximize_batch(merged, search.Binary(m), "anneal", 64, seed=3, workers=1)
    for b, result in enumerate(results):
        single = search.maximize(merged[b], search.Binary(m), "anneal", 64, seed=derive_seed(3, b))
        assert single.score == result.score and np.array_equal(single.action, result.action)
    assert mean_stack(stacks[:1]) is stacks[0]


def test_mean_stack_rejects_what_it_cannot_merge():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="one form"):
        mean_stack([_random_stack(rng, 2, 4, "dense"), _random_stack(rng, 2, 4, "low-rank")])
    with pytest.raises(ValueError, match="different lengths"):
        mean_stack([_random_stack(rng, 2, 4, "dense"), _random_stack(rng, 3, 4, "dense")])
    with pytest.raises(ValueError, match="different depths"):
        mean_stack([_random_stack(rng, 2, 4, "mlp1"), _random_stack(rng, 2, 4, "mlp2")])
    with pytest.raises(ValueError, match="of one kind"):
        mean_stack([_random_stack(rng, 2, 4, "dense"), _random_stack(rng, 2, 4, "mlp1")])
    with pytest.raises(ValueError, match="at least one"):
        mean_stack([])


@pytest.mark.parametrize("kind", ["quadratic", "mlp"])
def test_an_ensembles_landscapes_are_one_stack_of_its_mean(kind):
    from standin.agents.value_search import MLPQ, LowRankQuadraticQ

    torch.manual_seed(0)
    S, m, K, B = 3, 6, 3, 5
    members = [LowRankQuadraticQ(S, m, 4, 2, 8) if kind == "quadratic" else MLPQ(S, m, 8) for _ in range(K)]
    for net in members:  # away from the small initial outputs, so a wrong merge shows
        for p in net.parameters():
            p.data.normal_()
    ensemble = MeanEnsemble(members)
    obs = np.random.default_rng(2).normal(size=(B, S))
    stack = ensemble.landscapes(obs)
    assert isinstance(stack, search.QuadraticStack if kind == "quadratic" else search.MLPStack)
    X = np.array(np.meshgrid(*[[0, 1]] * m, indexing="ij")).reshape(m, -1).T.astype(np.float32)
    with torch.no_grad():
        for b in range(B):
            want = ensemble(torch.as_tensor(obs[b], dtype=torch.float32).expand(len(X), S), torch.as_tensor(X))
            np.testing.assert_allclose(stack[b](X), want.double().numpy(), rtol=1e-4, atol=1e-4)
            # as merging the members' landscapes of the same forward pass one state at a time
            merged = mean_landscape([member.landscapes(obs)[b] for member in members])
            np.testing.assert_allclose(stack[b](X), merged(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("m", "form"), [(40, "low-rank"), (8, "dense")])
def test_a_merged_quadratic_stack_is_stored_as_one_landscape_of_the_merged_rank_would_be(m, form):
    rng = np.random.default_rng(m)
    B, r, K = 3, 2, 3
    stacks = [search.QuadraticStack(rng.normal(size=B), rng.normal(size=(B, m)), U=rng.normal(size=(B, m, r)),
                                    sigma=rng.normal(size=(B, r))) for _ in range(K)]
    merged = mean_stack(stacks)
    assert merged.form == form  # dense when 5 · K·r > m, as Quadratic.from_factors decides
    X = rng.integers(0, 2, size=(50, m)).astype(np.int8)
    for b in range(B):
        want = np.mean([[s[b](x) for x in X] for s in stacks], axis=0)
        np.testing.assert_allclose(merged[b](X), want, rtol=1e-12, atol=1e-10)
