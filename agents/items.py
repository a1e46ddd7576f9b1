"""Permutation-equivariant networks for item-structured observations.

An observation is *item-structured* when it is a Box of shape ``(n_items, d)`` whose rows are the
action's items: the bits of ``MultiBinary(n)`` (``n`` items), the items of a k-of-N ``MultiBinary``
(``N`` items) or the components of ``MultiDiscrete(nvec)`` (``len(nvec)`` items, item ``i`` with
``nvec[i]`` values). The last ``g = global_features`` columns may be global features repeated on
every row; these networks read them once, from row 0.

Every network here is built on :class:`ItemTorso` (deep sets: a per-item MLP, then blocks that mix
each item with the mean over items and the globals), so permuting the items of the observation
permutes every per-item output the same way and leaves every pooled output unchanged, and the same
weights run at any number of items:

- :class:`ItemPolicy`: per-item logits (Bernoulli / without-replacement ``(B, n)``, categorical
  ``(B, n, K)``) and a state value ``(B,)``, for PPO-style training;
- :class:`ItemQuadraticQ`: a low-rank quadratic ``Q(s, a)`` over the action's binary encoding, with
  per-slot coefficients, exported per state as a ``search.Quadratic``;
- :class:`ItemMLPQ`: a deep-sets ``Q(s, a)`` whose pooled sum is affine in the action encoding,
  exported per state as a ``search.MLP`` whose first layer search updates incrementally.

Shapes: ``B`` batch, ``n`` items, ``d = features`` columns per row (``g`` of them global),
``H = hidden``, ``K`` values per item (1 for bits, ``max(nvec)`` for categorical items), ``m`` the
length of the action encoding (``n`` for bits, ``Σ nvec`` for categorical items: one-hot per item,
item ``i``'s values at ``offsets[i] + v``, the order of ``search.spaces.Discrete``). Observations may
be given as ``(B, n, d)`` or flat ``(B, n·d)``; the number of items is read from their shape.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import nn

from standin import search


def layer_init(layer: nn.Linear, std: float = math.sqrt(2), bias_const: float = 0.0) -> nn.Linear:
    """Orthogonal weights with gain ``std`` and constant bias (CleanRL's init, as ``agents.ppo``)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias_const)
    return layer


def as_items(obs: torch.Tensor, features: int) -> torch.Tensor:
    """``obs`` ``(B, n, d)`` or flat ``(B, n·d)`` as ``(B, n, d)`` (``d = features``)."""
    if obs.dim() == 3:
        if obs.shape[-1] != features:
            raise ValueError(f"item observation: expected rows of {features} features, got shape {tuple(obs.shape)}")
        return obs
    if obs.dim() != 2 or obs.shape[-1] % features or obs.shape[-1] == 0:
        raise ValueError(
            f"item observation: expected (batch, n_items, {features}) or (batch, n_items * {features}), "
            f"got shape {tuple(obs.shape)}"
        )
    return obs.reshape(obs.shape[0], -1, features)


def _check_nvec(nvec) -> tuple[int, ...] | None:
    if nvec is None:
        return None
    nvec = tuple(int(v) for v in np.asarray(nvec).reshape(-1))
    if not nvec or min(nvec) < 1:
        raise ValueError(f"nvec must be a non-empty sequence of integers >= 1, got {nvec!r}")
    return nvec


class ItemTorso(nn.Module):
    """Deep-sets torso: per-item embeddings ``(B, n, H)`` and a pooled context ``(B, H)``.

    - ``e_i = φ(x_i)``: a two-layer ReLU MLP on item ``i``'s own ``d − g`` columns;
    - ``gl = ReLU(Linear(globals))``: the last ``g`` columns of row 0 (width 0 when ``g = 0``);
    - ``layers`` residual mixing blocks ``e_i ← e_i + MLP([e_i, mean_j e_j, gl])``;
    - ``ctx = ReLU(Linear([mean_i e_i, max_i e_i, gl]))``.

    Only means, maxima and per-item maps touch the item axis, so permuting the items permutes
    ``e`` and leaves ``ctx`` unchanged, and the weights do not depend on ``n``.

    Args:
        features: ``d``, columns per row of the observation (global columns included).
        global_features: ``g``, how many of the last columns are global (repeated on every row).
        hidden: ``H``, the embedding width.
        layers: number of mixing blocks.
    """

    def __init__(self, features: int, global_features: int = 0, hidden: int = 64, layers: int = 2):
        super().__init__()
        if not 0 <= global_features < features:
            raise ValueError(
                f"ItemTorso: need 0 <= global_features < features (at least one per-item column), "
                f"got global_features={global_features}, features={features}"
            )
        if hidden < 1 or layers < 0:
            raise ValueError(f"ItemTorso: need hidden >= 1 and layers >= 0, got hidden={hidden}, layers={layers}")
        self.features, self.global_features, self.hidden = features, global_features, hidden
        own = features - global_features
        self.phi = nn.Sequential(layer_init(nn.Linear(own, hidden)), nn.ReLU(), layer_init(nn.Linear(hidden, hidden)))
        self.global_width = hidden if global_features else 0
        self.global_net = (
            nn.Sequential(layer_init(nn.Linear(global_features, hidden)), nn.ReLU()) if global_features else None
        )
        self.blocks = nn.ModuleList(
            nn.Sequential(layer_init(nn.Linear(2 * hidden + self.global_width, hidden)), nn.ReLU(),
                          layer_init(nn.Linear(hidden, hidden)))
            for _ in range(layers)
        )
        self.pool = nn.Sequential(layer_init(nn.Linear(2 * hidden + self.global_width, hidden)), nn.ReLU())

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs`` ``(B, n, d)`` or ``(B, n·d)`` → embeddings ``(B, n, H)``, context ``(B, H)``."""
        x = as_items(obs, self.features)
        g = self.global_features
        own = x[..., : self.features - g]
        if self.global_net is None:
            gl = x.new_zeros(x.shape[0], 0)
        else:
            gl = self.global_net(x[:, 0, self.features - g :])
        e = self.phi(own)
        for block in self.blocks:
            mean = e.mean(1, keepdim=True).expand_as(e)
            e = e + block(torch.cat([e, mean, gl[:, None, :].expand(-1, e.shape[1], -1)], dim=-1))
        ctx = self.pool(torch.cat([e.mean(1), e.amax(1), gl], dim=-1))
        return e, ctx


class ItemPolicy(nn.Module):
    """Per-item logits and a state value on :class:`ItemTorso` (PPO's actor and critic).

    ``logits(obs)``: ``(B, n)`` for binary items (a factored Bernoulli, or the without-replacement
    head's item logits for k-of-N), ``(B, n, K)`` with ``K = max(nvec)`` for categorical items; the
    caller masks the padding past ``nvec[i]`` (``self.valid``, as ``agents.heads.CategoricalHead``
    takes it). Each is one linear layer applied to every item's embedding (init gain 0.01).
    ``value(obs)``: ``(B,)``, a linear layer (gain 1) on the pooled context.

    Args:
        features, global_features, hidden, layers: as :class:`ItemTorso`.
        nvec: values per item for categorical items (a ``MultiDiscrete``), None for binary items.
        share_torso: one torso for actor and critic; False (default): separate torsos, as
            ``agents.ppo.ActorCritic`` keeps separate actor and critic networks.
    """

    def __init__(self, features: int, global_features: int = 0, nvec: Sequence[int] | None = None,
                 hidden: int = 64, layers: int = 2, share_torso: bool = False):
        super().__init__()
        self.nvec = _check_nvec(nvec)
        self.K = 1 if self.nvec is None else max(self.nvec)
        self.actor = ItemTorso(features, global_features, hidden, layers)
        self.critic = self.actor if share_torso else ItemTorso(features, global_features, hidden, layers)
        self.logit = layer_init(nn.Linear(hidden, self.K), std=0.01)
        self.value_head = layer_init(nn.Linear(hidden, 1), std=1.0)
        if self.nvec is not None:
            valid = torch.arange(self.K)[None, :] < torch.tensor(self.nvec)[:, None]  # (C, K): no padding
            self.register_buffer("valid", valid, persistent=False)

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """``(B, n)`` for binary items, ``(B, n, K)`` for categorical items (padding unmasked)."""
        e, _ = self.actor(obs)
        out = self.logit(e)
        return out.squeeze(-1) if self.nvec is None else out

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """``V(obs)``, shape ``(B,)``."""
        _, ctx = self.critic(obs)
        return self.value_head(ctx).squeeze(-1)


class _ItemQ(nn.Module):
    """What both item values share: the torso and the map from per-item outputs to encoding slots."""

    def __init__(self, features: int, global_features: int, nvec, hidden: int, layers: int):
        super().__init__()
        self.nvec = _check_nvec(nvec)
        self.K = 1 if self.nvec is None else max(self.nvec)
        self.torso = ItemTorso(features, global_features, hidden, layers)

    def slot_mask(self, n: int, nvec: Sequence[int] | None = None, device=None) -> torch.Tensor:
        """Bool ``(n, K)``: which of each item's ``K`` outputs are encoding slots, row-major in the
        encoding's order (``m = mask.sum()``). Binary items: all ``(n, 1)``. Categorical items: the
        first ``nvec[i]`` of item ``i``; ``nvec`` defaults to the constructor's, or at another number
        of items to ``K`` values each when the constructor's are all equal; give it otherwise."""
        if self.nvec is None:
            if nvec is not None:
                raise ValueError("item value: nvec given to a value built for binary items")
            return torch.ones(n, 1, dtype=torch.bool, device=device)
        if nvec is None:
            if n == len(self.nvec):
                nvec = self.nvec
            elif len(set(self.nvec)) == 1:
                nvec = (self.K,) * n
            else:
                raise ValueError(f"item value: built for nvec={self.nvec}; pass nvec for {n} items")
        nvec = _check_nvec(nvec)
        if len(nvec) != n or max(nvec) > self.K:
            raise ValueError(f"item value: nvec={nvec} must have {n} entries, each at most K = {self.K}")
        return torch.arange(self.K, device=device)[None, :] < torch.tensor(nvec, device=device)[:, None]

    @staticmethod
    def _obs_batch(obs) -> torch.Tensor:
        return torch.as_tensor(np.asarray(obs, dtype=np.float32))


class ItemQuadraticQ(_ItemQ):
    """``Q(s, a) = b(ctx) + Σ_j a_j h_j + Σ_k σ_k (Σ_j a_j U_jk)²`` over the action encoding ``a ∈ {0,1}^m``.

    ``b`` is linear in the pooled context; ``h_j`` and ``U_j·`` (``rank`` values) come from one linear
    layer on the embedding of slot ``j``'s item (item ``i`` gives ``K`` slots' worth, of which its
    first ``nvec[i]`` are used); ``σ`` is a learned vector (init −1, concave, as
    ``agents.value_search.LowRankQuadraticQ``) and ``U`` is divided by ``sqrt(m)``. Permuting the
    items together with the action's slots leaves ``Q`` unchanged. Exported per state, exactly, as
    ``search.Quadratic.from_factors``.

    Args:
        features, global_features, hidden, layers: as :class:`ItemTorso`.
        nvec: values per item for categorical items, None for binary items (bits or k-of-N).
        rank: ``r``, the number of rank-one terms.
    """

    def __init__(self, features: int, global_features: int = 0, nvec: Sequence[int] | None = None,
                 rank: int = 16, hidden: int = 64, layers: int = 2):
        super().__init__(features, global_features, nvec, hidden, layers)
        if rank < 1:
            raise ValueError(f"ItemQuadraticQ: rank must be >= 1, got {rank}")
        self.rank = rank
        self.bias = nn.Linear(hidden, 1)
        self.slots = nn.Linear(hidden, self.K * (1 + rank))
        nn.init.normal_(self.slots.weight, std=0.01)
        nn.init.zeros_(self.slots.bias)
        self.sigma = nn.Parameter(-torch.ones(rank))

    def parts(self, obs: torch.Tensor, nvec: Sequence[int] | None = None):
        """``b (B,)``, ``h (B, m)`` and ``U (B, m, rank)`` (already divided by ``sqrt(m)``)."""
        e, ctx = self.torso(obs)
        B, n, _ = e.shape
        out = self.slots(e).reshape(B, n, self.K, 1 + self.rank)[:, self.slot_mask(n, nvec, e.device)]  # (B, m, 1 + r)
        return self.bias(ctx).squeeze(-1), out[..., 0], out[..., 1:] / math.sqrt(out.shape[1])

    def forward(self, obs: torch.Tensor, action: torch.Tensor, nvec: Sequence[int] | None = None) -> torch.Tensor:
        """``Q(obs, action)`` ``(B,)``; ``obs`` ``(B, n, d)`` or ``(B, n·d)``, ``action`` float ``(B, m)``."""
        b, h, U = self.parts(obs, nvec)
        proj = torch.einsum("bmr,bm->br", U, action)
        return b + (h * action).sum(-1) + (proj.square() * self.sigma).sum(-1)

    def landscape(self, obs: np.ndarray, nvec: Sequence[int] | None = None) -> search.Quadratic:
        """The value of one observation (``(n, d)`` or ``(n·d,)``) as a ``search.Quadratic``."""
        return self.landscapes(np.asarray(obs)[None], nvec)[0]

    @torch.no_grad()
    def landscapes(self, obs: np.ndarray, nvec: Sequence[int] | None = None) -> search.QuadraticStack:
        """The values of a batch of observations ``(B, n, d)`` or ``(B, n·d)``, from one forward pass,
        stacked."""
        b, h, U = self.parts(self._obs_batch(obs), nvec)
        b, h, U, sigma = b.double().numpy(), h.double().numpy(), U.double().numpy(), self.sigma.double().numpy()
        return search.QuadraticStack.from_factors(b, h, U, sigma)


class ItemMLPQ(_ItemQ):
    """Deep sets on (item, action) pairs with a ReLU head that search can update incrementally.

    Each item ``i`` contributes ``φ(e_i, a_i) = φ0_i + Σ_v a_iv Δ_iv`` (``P = set_width`` values
    each, one linear layer on its embedding): exactly any function of a bit, or of a one-hot value,
    so the pooled sum is affine in the action encoding:

        z = (φ0 + D a) / n           φ0 = Σ_i φ0_i (P,),  D = [Δ_j] (P, m)      (pool="mean")
        Q(s, a) = ρ([z, ctx])        ρ: Linear → ReLU → Linear → ReLU → Linear(1)

    The sum is divided by ``n`` (``pool="mean"``, the default: ``z`` stays O(1) at any number of
    items, matching the torso's mean pooling; each item's marginal effect shrinks like ``1/n``) or by
    ``sqrt(n)`` (``pool="sqrt"``). ρ's first layer is linear in ``z`` (no nonlinearity between pooling
    and it) and also reads the pooled context ``ctx``, so its pre-activation is
    ``(W_z D / n) a + W_z φ0 / n + W_c ctx + b_1``: per state a ``search.MLP`` whose first layer reads
    the encoding only (the structure ``agents.export.mlp_landscape`` builds), then ρ's other layers.

    Args:
        features, global_features, hidden, layers: as :class:`ItemTorso`; ``hidden`` is also ρ's width.
        nvec: values per item for categorical items, None for binary items (bits or k-of-N).
        set_width: ``P``, the width of the pooled (item, action) sum; defaults to ``hidden``.
        pool: ``"mean"`` or ``"sqrt"``, what the sum over items is divided by (``n`` or ``sqrt(n)``).
    """

    def __init__(self, features: int, global_features: int = 0, nvec: Sequence[int] | None = None,
                 hidden: int = 64, layers: int = 2, set_width: int | None = None,
                 pool: Literal["mean", "sqrt"] = "mean"):
        super().__init__(features, global_features, nvec, hidden, layers)
        if pool not in ("mean", "sqrt"):
            raise ValueError(f"ItemMLPQ: pool must be 'mean' or 'sqrt', got {pool!r}")
        self.pool, self.set_width = pool, set_width or hidden
        self.element = nn.Linear(hidden, (1 + self.K) * self.set_width)  # φ0_i and Δ_i·, per item
        self.rho = nn.Sequential(nn.Linear(self.set_width + hidden, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, 1))

    def parts(self, obs: torch.Tensor, nvec: Sequence[int] | None = None):
        """``z0 (B, P)``, ``D (B, P, m)`` (both already divided by the pool's scale) and ``ctx (B, H)``:
        ``z = z0 + D a``."""
        e, ctx = self.torso(obs)
        B, n, _ = e.shape
        out = self.element(e).reshape(B, n, 1 + self.K, self.set_width)
        scale = n if self.pool == "mean" else math.sqrt(n)
        z0 = out[:, :, 0].sum(1) / scale
        D = out[:, :, 1:][:, self.slot_mask(n, nvec, e.device)].transpose(1, 2) / scale  # (B, P, m)
        return z0, D, ctx

    def forward(self, obs: torch.Tensor, action: torch.Tensor, nvec: Sequence[int] | None = None) -> torch.Tensor:
        """``Q(obs, action)`` ``(B,)``; ``obs`` ``(B, n, d)`` or ``(B, n·d)``, ``action`` float ``(B, m)``."""
        z0, D, ctx = self.parts(obs, nvec)
        z = z0 + torch.einsum("bpm,bm->bp", D, action)
        return self.rho(torch.cat([z, ctx], dim=-1)).squeeze(-1)

    def landscape(self, obs: np.ndarray, nvec: Sequence[int] | None = None) -> search.MLP:
        """The value of one observation (``(n, d)`` or ``(n·d,)``) as a ``search.MLP`` over the encoding."""
        return self.landscapes(np.asarray(obs)[None], nvec)[0]

    @torch.no_grad()
    def landscapes(self, obs: np.ndarray, nvec: Sequence[int] | None = None) -> search.MLPStack:
        """The values of a batch of observations ``(B, n, d)`` or ``(B, n·d)``, from one forward pass,
        stacked."""
        z0, D, ctx = (t.double() for t in self.parts(self._obs_batch(obs), nvec))
        linears = [layer for layer in self.rho if isinstance(layer, nn.Linear)]
        W = linears[0].weight.detach().double()
        Wz, Wc, b1 = W[:, : self.set_width], W[:, self.set_width :], linears[0].bias.detach().double()
        first_w = torch.einsum("hp,bpm->bhm", Wz, D).numpy()  # (B, H, m)
        first_b = (z0 @ Wz.T + ctx @ Wc.T + b1).numpy()  # (B, H)
        rest_w = tuple(layer.weight.detach().double().numpy() for layer in linears[1:])
        rest_b = tuple(layer.bias.detach().double().numpy() for layer in linears[1:])
        return search.MLPStack(first_w, first_b, rest_w, rest_b)


__all__ = ["ItemMLPQ", "ItemPolicy", "ItemQuadraticQ", "ItemTorso", "as_items", "layer_init"]
