"""agents.export: torch value networks become search landscapes that agree with the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from standin import search
from standin.agents.export import mean_landscape, mlp_landscape


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
