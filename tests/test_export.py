"""agents.export: torch value networks become search landscapes that agree with the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import search
from agents.export import mlp_landscape


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
