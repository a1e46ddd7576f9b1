"""Export torch value networks as ``search`` landscapes (search itself never sees torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from standin import search


def mlp_landscape(net: nn.Sequential, obs) -> search.MLP:
    """``Q(obs, ·)`` of a ReLU network on ``[obs, action encoding]`` as a :class:`search.MLP`.

    ``net`` must alternate ``nn.Linear`` and ``nn.ReLU`` and end in a ``Linear`` with one output; its
    input is the observation (flattened, ``S`` values) followed by the action's binary encoding. The
    observation's part of the first layer is folded into that layer's bias, ``b₁ + W₁[:, :S] obs``, so
    local search updates only the action part, O(H₁) per move.
    """
    return mlp_stack(net, np.reshape(np.asarray(obs, dtype=np.float64), (1, -1)))[0]


@torch.no_grad()
def mlp_stack(net: nn.Sequential, obs) -> search.MLPStack:
    """:func:`mlp_landscape` for a batch of observations ``(B, S)``, as one :class:`search.MLPStack`:
    the first layer's action part is shared, each state's part is in its bias (one matmul)."""
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
    obs = torch.as_tensor(np.asarray(obs, dtype=np.float64), dtype=torch.float64).reshape(len(obs), -1)
    first = linears[0]
    S = obs.shape[1]
    if first.in_features <= S:
        raise ValueError(f"mlp_landscape: the first layer takes {first.in_features} inputs, not more than obs ({S})")
    W = first.weight.detach().double()
    b = first.bias.detach().double() if first.bias is not None else torch.zeros(W.shape[0], dtype=torch.float64)
    weights, biases = [], []
    for layer in linears[1:]:
        weights.append(layer.weight.detach().double().numpy())
        bias = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
        biases.append(bias.detach().double().numpy())
    return search.MLPStack(W[:, S:].numpy(), (b + obs @ W[:, :S].T).numpy(), tuple(weights), tuple(biases))


def _deeper_layers(nets: list[tuple], K: int) -> tuple[list, list]:
    """The layers after the first of ``K`` ReLU networks of equal depth (``nets[k]``: its
    ``(weights, biases)`` from the second layer on), merged into one network ``K`` times as wide:
    block-diagonal hidden layers, and an output layer that averages the members."""
    depth = len(nets[0][0])
    weights, biases = [], []
    for layer in range(depth):
        blocks = [w[layer] for w, _ in nets]
        if layer == depth - 1:  # the output layer: the members' outputs averaged
            weights.append(np.concatenate(blocks, axis=1) / K)
            biases.append(np.mean([b[layer] for _, b in nets], axis=0))
            continue
        W = np.zeros((sum(b.shape[0] for b in blocks), sum(b.shape[1] for b in blocks)))
        row = col = 0
        for b in blocks:
            W[row : row + b.shape[0], col : col + b.shape[1]] = b
            row, col = row + b.shape[0], col + b.shape[1]
        weights.append(W)
        biases.append(np.concatenate([b[layer] for _, b in nets]))
    return weights, biases


def mean_landscape(landscapes: list) -> search.Quadratic | search.MLP:
    """The mean of ``K`` value landscapes of one state, as one landscape of the same kind, exactly.

    - Quadratics: the coefficients' mean, with the low-rank parts side by side (rank ``Σ r_k``,
      each ``σ`` divided by ``K``) and the dense parts averaged.
    - ReLU MLPs of equal depth: one network ``K`` times as wide, its members side by side in the first
      layer, block-diagonal in the hidden ones, the output layer averaging them. Search then costs
      ``K`` times a member's per move.
    """
    K = len(landscapes)
    if K == 0:
        raise ValueError("mean_landscape: need at least one landscape")
    if K == 1:
        return landscapes[0]
    if all(isinstance(q, search.Quadratic) for q in landscapes):
        c = float(np.mean([q.c for q in landscapes]))
        h = np.mean([q.h for q in landscapes], axis=0)
        dense = [q.J for q in landscapes if q.J is not None]
        J = None if not dense else np.sum(dense, axis=0) / K
        factors = [q for q in landscapes if q.U is not None]
        if not factors:
            return search.Quadratic(c, h, J)
        U = np.concatenate([q.U for q in factors], axis=1)
        sigma = np.concatenate([q.sigma for q in factors]) / K
        return search.Quadratic(c, h, J, U=U, sigma=sigma)
    if all(isinstance(q, search.MLP) for q in landscapes):
        if len({len(q.weights) for q in landscapes}) != 1:
            raise ValueError("mean_landscape: MLPs of different depths can't be merged")
        if len(landscapes[0].weights) == 1:  # one linear layer: average it
            return search.MLP((np.mean([q.weights[0] for q in landscapes], axis=0),),
                              (np.mean([q.biases[0] for q in landscapes], axis=0),))
        weights, biases = _deeper_layers([(q.weights[1:], q.biases[1:]) for q in landscapes], K)
        first_w = np.concatenate([q.weights[0] for q in landscapes], axis=0)
        first_b = np.concatenate([q.biases[0] for q in landscapes])
        return search.MLP((first_w, *weights), (first_b, *biases))
    kinds = sorted({type(q).__name__ for q in landscapes})
    raise ValueError(f"mean_landscape: can only merge quadratics or MLPs of one kind, got {', '.join(kinds)}")


def mean_stack(stacks: list) -> search.QuadraticStack | search.MLPStack:
    """:func:`mean_landscape` of ``K`` stacks of one batch of states, landscape by landscape, as one
    stack of the same kind (which ``search.maximize_batch`` searches in one fused call).

    Quadratic stacks must share their form (dense or low rank); MLP stacks their depth (with
    ``K`` first layers side by side, per state where any member's is).
    """
    K = len(stacks)
    if K == 0:
        raise ValueError("mean_stack: need at least one stack")
    if K == 1:
        return stacks[0]
    if len({len(s) for s in stacks}) != 1:
        raise ValueError(f"mean_stack: stacks of different lengths {[len(s) for s in stacks]}")
    if all(isinstance(s, search.QuadraticStack) for s in stacks):
        forms = {s.form for s in stacks}
        if len(forms) != 1:
            raise ValueError(f"mean_stack: quadratic stacks of one form can be merged, got {sorted(forms)}")
        c = np.mean([s.c for s in stacks], axis=0)
        h = np.mean([s.h for s in stacks], axis=0)
        if forms == {"dense"}:
            return search.QuadraticStack(c, h, J=np.sum([s.J for s in stacks], axis=0) / K)
        # the merged rank is K times a member's: stored as a single landscape of that rank would be
        return search.QuadraticStack.from_factors(c, h, np.concatenate([s.U for s in stacks], axis=2),
                                                  np.concatenate([s.sigma for s in stacks], axis=1) / K)
    if all(isinstance(s, search.MLPStack) for s in stacks):
        if len({len(s.weights) for s in stacks}) != 1:
            raise ValueError("mean_stack: MLP stacks of different depths can't be merged")
        B = len(stacks[0])
        if not stacks[0].weights:  # one linear layer: average it
            W1 = np.mean([np.broadcast_to(s.W1, (B, *s.W1.shape[1:])) for s in stacks], axis=0)
            return search.MLPStack(W1, np.mean([s.b1 for s in stacks], axis=0))
        weights, biases = _deeper_layers([(s.weights, s.biases) for s in stacks], K)
        rows = max(s.W1.shape[0] for s in stacks)  # 1 when every member's first layer is shared
        W1 = np.concatenate([np.broadcast_to(s.W1, (rows, *s.W1.shape[1:])) for s in stacks], axis=1)
        return search.MLPStack(W1 if rows > 1 else W1[0], np.concatenate([s.b1 for s in stacks], axis=1), weights,
                               biases)
    kinds = sorted({type(s).__name__ for s in stacks})
    raise ValueError(f"mean_stack: can only merge quadratic stacks or MLP stacks of one kind, got {', '.join(kinds)}")


class MeanEnsemble(nn.Module):
    """``K`` value networks with one interface: ``forward`` and the exported landscapes are their mean.

    Members are trained side by side on the same minibatches from different initialisations; where
    their errors are independent the mean's are smaller, and search, which seeks out a value's
    errors as eagerly as its true maxima (the optimiser's curse), has less to exploit.
    """

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, *args) -> torch.Tensor:
        return torch.stack([m(*args) for m in self.members]).mean(0)

    def member_outputs(self, *args) -> torch.Tensor:
        """Every member's output, ``(K, ...)``: the loss trains each on its own prediction."""
        return torch.stack([m(*args) for m in self.members])

    def landscape(self, obs, *args):
        return mean_landscape([m.landscape(obs, *args) for m in self.members])

    def landscapes(self, obs, *args) -> Sequence:
        if len(self.members) == 1:  # as the member exports them (a stack)
            return self.members[0].landscapes(obs, *args)
        per_member = [m.landscapes(obs, *args) for m in self.members]
        if all(isinstance(s, (search.QuadraticStack, search.MLPStack)) for s in per_member):
            return mean_stack(per_member)  # one stack: the batch search stays one fused call
        return [mean_landscape(list(group)) for group in zip(*per_member, strict=True)]
