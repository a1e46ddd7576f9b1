"""Export torch value networks as ``search`` landscapes (search itself never sees torch)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import search


@torch.no_grad()
def mlp_landscape(net: nn.Sequential, obs) -> search.MLP:
    """``Q(obs, ·)`` of a ReLU network on ``[obs, action encoding]`` as a :class:`search.MLP`.

    ``net`` must alternate ``nn.Linear`` and ``nn.ReLU`` and end in a ``Linear`` with one output; its
    input is the observation (flattened, ``S`` values) followed by the action's binary encoding. The
    observation's part of the first layer is folded into that layer's bias, ``b₁ + W₁[:, :S] obs``, so
    local search updates only the action part, O(H₁) per move.
    """
    layers = list(net)
    linears = layers[0::2]
    relus = layers[1::2]
    alternates = all(isinstance(m, nn.Linear) for m in linears) and all(isinstance(m, nn.ReLU) for m in relus)
    if not linears or not alternates:
        raise ValueError("mlp_landscape: net must alternate nn.Linear and nn.ReLU, starting and ending with nn.Linear")
    if len(layers) % 2 == 0:
        raise ValueError("mlp_landscape: net must end with an nn.Linear (the value), not an activation")
    if linears[-1].out_features != 1:
        raise ValueError(f"mlp_landscape: the last layer must have one output, got {linears[-1].out_features}")
    obs = torch.as_tensor(np.asarray(obs, dtype=np.float64).reshape(-1), dtype=torch.float64)
    first = linears[0]
    S = obs.shape[0]
    if first.in_features <= S:
        raise ValueError(f"mlp_landscape: the first layer takes {first.in_features} inputs, not more than obs ({S})")
    W = first.weight.detach().double()
    b = first.bias.detach().double() if first.bias is not None else torch.zeros(W.shape[0], dtype=torch.float64)
    weights = [W[:, S:].numpy()]
    biases = [(b + W[:, :S] @ obs).numpy()]
    for layer in linears[1:]:
        weights.append(layer.weight.detach().double().numpy())
        bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
        biases.append(bias.detach().double().numpy())
    return search.MLP(tuple(weights), tuple(biases))
