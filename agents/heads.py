"""Every policy head, with one interface: a distribution object per batch of torso features.

A head's distribution has the methods PPO (and a distilled student) use:

* ``log_prob(actions) -> (batch,)``: log-probability of whole actions;
* ``entropy() -> (batch,)``: exact for the factored heads, a single-sample estimate for the others
  (below);
* ``sample(generator=None) -> actions`` and ``mode() -> actions``.

Actions are float tensors (bits, or value indices per component), as in ``agents.ppo``. Which head
fits which space: :func:`default_head`. Masks: :func:`head_mask` puts ``info["action_mask"]`` in a
head's layout.

Factored heads, one independent choice per bit or component: ``BernoulliHead`` for ``MultiBinary(n)``,
``CategoricalHead`` for ``MultiDiscrete(nvec)`` and ``Discrete(n)`` (an action mask gives forbidden
values probability 0).

``AutoregressiveHead`` (``MultiBinary(n)`` as ``nvec = [2] * n``, or ``MultiDiscrete(nvec)``)
decides the components one after another, each conditioned on the ones already chosen, through a
MADE-style masked MLP (Germain et al., 2015). ``log_prob`` is one batched pass (teacher forcing);
``sample`` and ``mode`` decode sequentially, one step per component.

``WithoutReplacementHead`` (k-of-N spaces, ``envs.slate.KOfN``) draws ``k`` distinct items with
Plackett–Luce probabilities (each next item with probability ``∝ exp(l_i)`` among those left);
``log_prob`` is the exact probability of the *set*, summed over its ``k!`` orders by a dynamic
programme over its subsets.

Entropy. Neither of the last two has a tractable exact entropy, so ``entropy()`` draws one action
``a`` per row (no gradient through the draw) and returns ``−log p(a)``, an unbiased estimate of
``H(p)``. Its gradient is *not* ``−∇ log p(a)``: that has expectation
``−Σ_a p(a) ∇ log p(a) = −∇ Σ_a p(a) = 0``, so an entropy bonus built on it would be pure noise. The
returned tensor is the score-function surrogate ``−ℓ̄ − ℓ̄ · (ℓ − ℓ̄)`` with ``ℓ = log p(a)`` and ``ℓ̄``
its detached value: its value is ``−log p(a)`` and its gradient ``−log p(a) · ∇ log p(a)``, whose
expectation is the exact entropy gradient ``∇H = −Σ_a (log p(a) + 1) ∇p(a)`` (the ``+1`` term sums
to zero).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

MAX_SET_SIZE = 12
"""Largest ``k`` of ``WithoutReplacementHead``: its exact ``log_prob`` visits all ``2^k`` subsets of the set."""


# ------------------------------------------------------------------ factored heads


class BernoulliHead:
    """A factored Bernoulli distribution over ``{0, 1}^n``: each bit independent, one logit each.

    ``logits`` has shape ``(batch, n)``; actions are float tensors of 0/1 with the same shape.
    ``log_prob`` and ``entropy`` are of the whole action (summed over bits), shape ``(batch,)``.
    """

    def __init__(self, logits: torch.Tensor):
        self.logits = logits

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """``log p(a) = Σ_i a_i log σ(l_i) + (1 − a_i) log σ(−l_i)``, shape ``(batch,)``."""
        log_p1 = nn.functional.logsigmoid(self.logits)
        log_p0 = nn.functional.logsigmoid(-self.logits)
        return (actions * log_p1 + (1.0 - actions) * log_p0).sum(-1)

    def entropy(self) -> torch.Tensor:
        """``H = Σ_i −p_i log p_i − (1 − p_i) log(1 − p_i)``, shape ``(batch,)``."""
        p1 = torch.sigmoid(self.logits)
        log_p1 = nn.functional.logsigmoid(self.logits)
        log_p0 = nn.functional.logsigmoid(-self.logits)
        return -(p1 * log_p1 + (1.0 - p1) * log_p0).sum(-1)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One action per row, each bit drawn from its own Bernoulli, shape ``(batch, n)``."""
        return torch.bernoulli(torch.sigmoid(self.logits), generator=generator)

    def mode(self) -> torch.Tensor:
        """The most likely action: each bit 1 where its logit is positive, shape ``(batch, n)``."""
        return (self.logits > 0).to(self.logits.dtype)


class CategoricalHead:
    """Independent categoricals over ``C`` components with ``nvec[c]`` values each.

    ``logits`` has shape ``(batch, C, K)`` with ``K = max(nvec)``; ``allowed`` (bool, broadcastable
    to it) marks the values each component may take: padding past ``nvec[c]`` and values an action
    mask forbids get probability 0. Actions are float tensors ``(batch, C)`` of value indices.
    ``log_prob`` and ``entropy`` are of the whole action (summed over components), shape ``(batch,)``.
    """

    def __init__(self, logits: torch.Tensor, allowed: torch.Tensor):
        self.logits = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)
        self.log_p = torch.log_softmax(self.logits, dim=-1)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """``Σ_c log p_c(a_c)``, shape ``(batch,)``."""
        return self.log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1).sum(-1)

    def entropy(self) -> torch.Tensor:
        """``Σ_c −Σ_v p_c(v) log p_c(v)``, shape ``(batch,)`` (forbidden values contribute 0)."""
        p = self.log_p.exp()
        return -(p * self.log_p).sum((-1, -2))

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One value per component, shape ``(batch, C)``."""
        batch, C, K = self.log_p.shape
        draws = torch.multinomial(self.log_p.exp().reshape(-1, K), 1, generator=generator)
        return draws.reshape(batch, C).to(self.logits.dtype)

    def mode(self) -> torch.Tensor:
        """Each component's likeliest value, shape ``(batch, C)``."""
        return self.log_p.argmax(-1).to(self.logits.dtype)


def head_mask(info, batched: bool, nvec, per_item: bool, n: int) -> np.ndarray | None:
    """``info["action_mask"]`` in a head's layout, as bool; None without a mask, or for a head over
    bits (a ``MultiBinary`` space has no mask to honour but a k-of-N one's).

    - ``per_item`` (a k-of-N space, :class:`WithoutReplacementHead`): ``(batch, n)``, one entry per item.
    - ``nvec`` (categorical components, :class:`CategoricalHead` and :class:`AutoregressiveHead`):
      ``(batch, C, K)`` with ``K = max(nvec)``, False past ``nvec[c]``.

    A mask per environment (leading axis, ``batched``) or a single one; each ``(C, K)``, flat over
    the one-hot layout (``Σ nvec``), or Gymnasium's tuple of per-component masks.
    """
    mask = info.get("action_mask") if isinstance(info, dict) else None
    if mask is None or (nvec is None and not per_item):
        return None
    rows = mask if batched else [mask]
    if per_item:
        return np.stack([np.asarray(row, dtype=bool).reshape(n) for row in rows])
    C, K = len(nvec), max(nvec)
    out = np.zeros((len(rows), C, K), dtype=bool)
    for b, row in enumerate(rows):
        if isinstance(row, (tuple, list)) or (isinstance(row, np.ndarray) and row.dtype == object):
            for c, part in enumerate(row):
                out[b, c, : len(part)] = np.asarray(part, dtype=bool)
            continue
        row = np.asarray(row, dtype=bool)
        if row.shape == (sum(nvec),):
            starts = np.cumsum([0, *nvec[:-1]])
            for c, (lo, v) in enumerate(zip(starts, nvec, strict=True)):
                out[b, c, :v] = row[lo : lo + v]
        else:
            out[b, :, : row.shape[-1]] = row.reshape(C, -1)
    return out


# ------------------------------------------------------------------ sequence and set heads


def _init(layer: nn.Linear, std: float) -> nn.Linear:
    """Orthogonal weights with gain ``std``, zero bias (CleanRL's init, as ``agents.ppo.layer_init``)."""
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


def _gumbel(shape: tuple[int, ...], like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Standard Gumbel noise ``−log(−log u)``, ``u ~ U(0, 1)``, of ``shape`` with ``like``'s dtype and device."""
    u = torch.rand(shape, generator=generator, dtype=like.dtype, device=like.device)
    u = u.clamp_min(torch.finfo(like.dtype).tiny)  # u = 0 would give a key of −inf
    return -torch.log(-torch.log(u))


def _mc_entropy(dist, generator: torch.Generator | None) -> torch.Tensor:
    """Single-sample Monte Carlo entropy of ``dist``, shape ``(batch,)``: value ``−log p(a)``, gradient
    ``−log p(a) ∇ log p(a)`` (unbiased for ``∇H``; see the module docstring), ``a`` drawn without gradient."""
    with torch.no_grad():
        a = dist.sample(generator)
    logp = dist.log_prob(a)
    fixed = logp.detach()
    return -fixed - fixed * (logp - fixed)


# ------------------------------------------------------------------------------ autoregressive


def default_head(space) -> str:
    """``without-replacement`` for k-of-N spaces, ``factored`` otherwise."""
    k = getattr(space, "k", None)
    return "without-replacement" if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else "factored"


class MaskedLinear(nn.Linear):
    """``nn.Linear`` whose weight is multiplied by a fixed 0/1 ``mask`` (shape ``(out, in)``) in every use."""

    def __init__(self, in_features: int, out_features: int, mask: torch.Tensor):
        super().__init__(in_features, out_features)
        if mask.shape != (out_features, in_features):
            want = (out_features, in_features)
            raise ValueError(f"MaskedLinear: mask must have shape {want}, got {tuple(mask.shape)}")
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def masked_weight(self) -> torch.Tensor:
        """The weight with the masked connections zeroed, shape ``(out, in)``."""
        return self.weight * self.mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.masked_weight(), self.bias)


class AutoregressiveHead(nn.Module):
    """Components ``c = 0..C−1`` decided in order, ``p(a) = Π_c p_c(a_c | h, a_<c)``.

    The core is a MADE-style masked MLP on ``x = [h, onehot(a_0), …, onehot(a_{C−1})]`` (each one-hot
    padded to ``K = max(nvec)``, so ``x`` has ``H + C·K`` entries)::

        logits = direct(h) + out(tanh(hidden(x)))          # (batch, C·K) → (batch, C, K)

    Degrees: ``h`` has degree 0 and the one-hot of component ``c`` degree ``c + 1``; hidden unit
    ``j`` has degree ``m_j = j mod C``. ``hidden`` connects unit ``j`` to inputs of degree ``≤ m_j``,
    and ``out`` connects component ``c``'s logits to units with ``m_j ≤ c``. So component ``c``'s
    logits depend on ``h`` and on ``a_0..a_{c−1}`` only. ``direct`` is an unmasked linear map of
    ``h`` alone (the factored head as a special case; it keeps every component's link to ``h`` wide
    when ``C`` is close to ``hidden``).

    ``forward(h, allowed)`` returns an :class:`AutoregressiveDistribution`. Actions are float
    tensors ``(batch, C)`` of value indices (0/1 bits for ``MultiBinary``).

    Args:
        features: ``H``, the width of the torso features.
        nvec: values per component (``[2] * n`` for ``MultiBinary(n)``).
        hidden: width of the masked hidden layer.
    """

    def __init__(self, features: int, nvec: Sequence[int], hidden: int = 64):
        super().__init__()
        self.nvec = tuple(int(v) for v in nvec)
        if not self.nvec or min(self.nvec) < 1:
            raise ValueError(f"AutoregressiveHead: nvec must be a non-empty sequence of integers >= 1, got {nvec!r}")
        if features < 1 or hidden < 1:
            raise ValueError(f"AutoregressiveHead: features and hidden must be >= 1, got {features}, {hidden}")
        C, K = len(self.nvec), max(self.nvec)
        self.features, self.C, self.K = features, C, K

        in_degree = torch.cat([torch.zeros(features, dtype=torch.long), torch.arange(1, C + 1).repeat_interleave(K)])
        hidden_degree = torch.arange(hidden) % C
        out_degree = torch.arange(C).repeat_interleave(K)  # component c's K logits
        self.hidden = _init(
            MaskedLinear(features + C * K, hidden, in_degree[None, :] <= hidden_degree[:, None]), std=math.sqrt(2)
        )
        self.out = _init(MaskedLinear(hidden, C * K, hidden_degree[None, :] <= out_degree[:, None]), std=0.01)
        self.direct = _init(nn.Linear(features, C * K), std=0.01)

        valid = torch.arange(K)[None, :] < torch.tensor(self.nvec)[:, None]  # (C, K): False on padding
        self.register_buffer("valid", valid, persistent=False)

    def forward(self, h: torch.Tensor, allowed: torch.Tensor | None = None) -> AutoregressiveDistribution:
        """The distribution at features ``h`` ``(batch, H)``; ``allowed``: bool, broadcastable to
        ``(batch, C, K)``, True where a value may be taken (padding past ``nvec[c]`` never is)."""
        allowed = self.valid if allowed is None else self.valid & allowed
        return AutoregressiveDistribution(self, h, torch.broadcast_to(allowed, (len(h), self.C, self.K)))

    def conditional_logits(self, h: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the logits of every component given the earlier components of ``actions``.

        ``h``: ``(batch, H)``; ``actions``: ``(batch, C)`` value indices. Returns ``(batch, C, K)``,
        row ``c`` depending on ``h`` and ``actions[:, :c]`` only (no action mask applied).
        """
        onehot = F.one_hot(actions.long(), self.K).to(h.dtype).flatten(1)  # (batch, C·K)
        z = torch.tanh(self.hidden(torch.cat([h, onehot], dim=-1)))
        return (self.direct(h) + self.out(z)).view(len(h), self.C, self.K)


class AutoregressiveDistribution:
    """``p(a | h) = Π_c p_c(a_c | h, a_<c)`` of an :class:`AutoregressiveHead` at features ``h``.

    ``h``: ``(batch, H)``; ``allowed``: bool ``(batch, C, K)``, forbidden values get logit
    ``finfo.min`` (probability 0), as in :class:`CategoricalHead`. Actions: float ``(batch, C)``.
    """

    def __init__(self, head: AutoregressiveHead, h: torch.Tensor, allowed: torch.Tensor):
        self.head, self.h, self.allowed = head, h, allowed

    def _mask(self, logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        return logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """``Σ_c log p_c(a_c | h, a_<c)`` in one batched pass, shape ``(batch,)``."""
        logits = self._mask(self.head.conditional_logits(self.h, actions), self.allowed)
        log_p = torch.log_softmax(logits, dim=-1)
        return log_p.gather(-1, actions.long().unsqueeze(-1)).squeeze(-1).sum(-1)

    def _decode(self, choose) -> torch.Tensor:
        """Decode ``C`` components in order; ``choose(c, log_p_c)`` picks ``(batch,)`` values from the
        ``(batch, K)`` conditional log-probabilities. Returns float actions ``(batch, C)``.

        The same computation as ``conditional_logits`` done one step at a time: the hidden
        pre-activation starts at ``hidden([h, 0])`` and each decision adds its value's weight column.
        """
        head, h = self.head, self.h
        H, K = head.features, head.K
        w_in = head.hidden.masked_weight()  # (hidden, H + C·K)
        w_out = head.out.masked_weight()  # (C·K, hidden)
        pre = F.linear(h, w_in[:, :H], head.hidden.bias)  # (batch, hidden)
        direct = head.direct(h).view(len(h), head.C, K)
        actions = []
        for c in range(head.C):
            rows = slice(c * K, (c + 1) * K)
            logits = direct[:, c] + F.linear(torch.tanh(pre), w_out[rows], head.out.bias[rows])  # (batch, K)
            a = choose(c, torch.log_softmax(self._mask(logits, self.allowed[:, c]), dim=-1))
            pre = pre + w_in[:, H + c * K + a].T
            actions.append(a)
        return torch.stack(actions, dim=1).to(h.dtype)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One action per row, decoded in ``C`` steps (Gumbel-max per component), shape ``(batch, C)``."""
        noise = _gumbel((len(self.h), self.head.C, self.head.K), self.h, generator)
        return self._decode(lambda c, log_p: (log_p + noise[:, c]).argmax(-1))

    def mode(self) -> torch.Tensor:
        """The greedy sequence (each component's likeliest value given the earlier greedy choices), not
        necessarily the most likely joint action, shape ``(batch, C)``."""
        return self._decode(lambda c, log_p: log_p.argmax(-1))

    def entropy(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Single-sample Monte Carlo estimate of the entropy, shape ``(batch,)``: value ``−log p(a)`` for a
        fresh sample ``a``, gradient unbiased for ``∇H`` (see the module docstring)."""
        return _mc_entropy(self, generator)


# ---------------------------------------------------------------------------- without replacement


def _check_set_size(owner: str, n: int, k: int) -> None:
    if not 1 <= k <= n:
        raise ValueError(f"{owner}: k must be in 1..n = {n}, got k = {k}")
    if k > MAX_SET_SIZE:
        raise ValueError(
            f"{owner}: k = {k} is too large: the exact set probability sums over the 2^k subsets of the "
            f"chosen set; use a smaller k (at most {MAX_SET_SIZE})"
        )


@functools.cache
def _subset_levels(k: int) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """The subsets of ``{0..k−1}`` by size, for the dynamic programme of ``log_prob``.

    Entry ``s`` (``s = 0..k``) lists the ``m_s = C(k, s)`` subsets of size ``s`` as
    ``(members, pred, elem)``: ``members`` bool ``(m_s, k)``; for ``s ≥ 1``, ``elem[t, j]`` is the
    ``j``-th element of subset ``t`` and ``pred[t, j]`` the position in level ``s − 1`` of the subset
    without it, both ``(m_s, s)`` (empty for ``s = 0``).
    """
    levels = []
    previous: dict[tuple[int, ...], int] = {}
    for s in range(k + 1):
        subsets = list(itertools.combinations(range(k), s))
        members = torch.zeros((len(subsets), k), dtype=torch.bool)
        pred = torch.zeros((len(subsets), s), dtype=torch.long)
        elem = torch.zeros((len(subsets), s), dtype=torch.long)
        for t, subset in enumerate(subsets):
            members[t, list(subset)] = True
            for j, i in enumerate(subset):
                elem[t, j] = i
                pred[t, j] = previous[tuple(x for x in subset if x != i)] if s else 0
        levels.append((members, pred, elem))
        previous = {subset: t for t, subset in enumerate(subsets)}
    return levels


class WithoutReplacementHead(nn.Module):
    """``k`` distinct items of ``n`` drawn one at a time, each with probability ``∝ exp(l_i)`` among
    the items left (Plackett–Luce); the action is the drawn *set*, a 0/1 vector with ``k`` ones.

    Item logits ``l = linear(h)``. ``forward(h, allowed)`` returns a
    :class:`WithoutReplacementDistribution`.

    Args:
        features: ``H``, the width of the torso features.
        n: number of items.
        k: items per action, ``1 ≤ k ≤ min(n, 12)``.
    """

    def __init__(self, features: int, n: int, k: int):
        super().__init__()
        _check_set_size("WithoutReplacementHead", n, k)
        self.n, self.k = n, k
        self.linear = _init(nn.Linear(features, n), std=0.01)

    def forward(self, h: torch.Tensor, allowed: torch.Tensor | None = None) -> WithoutReplacementDistribution:
        """The distribution at features ``h`` ``(batch, H)``; ``allowed``: bool broadcastable to ``(batch, n)``,
        True where an item may be drawn (at least ``k`` per row)."""
        return WithoutReplacementDistribution(self.linear(h), self.k, allowed)


class WithoutReplacementDistribution:
    """Plackett–Luce without replacement over the ``k``-subsets of ``n`` items.

    ``logits``: ``(batch, n)``; ``allowed``: bool broadcastable to it (None: all items), forbidden items
    get logit ``finfo.min`` and are never drawn; fewer than ``k`` allowed items in a row is a
    ValueError. Actions: float 0/1 ``(batch, n)`` with exactly ``k`` ones.
    """

    def __init__(self, logits: torch.Tensor, k: int, allowed: torch.Tensor | None = None):
        n = logits.shape[-1]
        _check_set_size("WithoutReplacementDistribution", n, k)
        if allowed is not None:
            allowed = torch.broadcast_to(allowed, logits.shape)
            if (allowed.sum(-1) < k).any():
                raise ValueError(f"WithoutReplacementDistribution: a row of the mask allows fewer than k = {k} items")
            logits = logits.masked_fill(~allowed, torch.finfo(logits.dtype).min)
        self.logits, self.k = logits, k

    def log_prob(self, actions: torch.Tensor) -> torch.Tensor:
        """The exact log-probability of the set ``S`` of ``actions``' ones, shape ``(batch,)``.

        ``P(S) = Σ_{orders of S} Π_t w_{i_t} / R({i_1..i_{t−1}})`` with ``w = exp(l)`` and ``R(U)`` the
        weight of the (allowed) items not in ``U``. Over the subsets ``T ⊆ S``, in log space::

            f(∅) = 1,    f(T) = Σ_{i ∈ T} f(T ∖ {i}) · w_i / R(T ∖ {i}),    P(S) = f(S)

        ``R(U) = w(items ∉ S) + w(S ∖ U)`` is a sum of positive terms (a logsumexp), never a
        difference, so no cancellation. Cost ``O(k 2^k)`` per row.
        """
        k, logits = self.k, self.logits
        chosen = actions > 0.5
        if (chosen.sum(-1) != k).any():
            raise ValueError(f"WithoutReplacementDistribution.log_prob: every action must have exactly k = {k} ones")
        smallest = torch.finfo(logits.dtype).min
        lw_set = logits.gather(-1, actions.topk(k, dim=-1).indices)  # (batch, k): log w of S's items
        lw_rest = logits.masked_fill(chosen, smallest).logsumexp(-1)  # (batch,): log w(items ∉ S)
        batch = len(logits)
        f = logits.new_zeros((batch, 1))  # level 0: log f(∅) = 0
        levels = _subset_levels(k)
        for s in range(1, k + 1):
            members_before = levels[s - 1][0].to(logits.device)  # (m_{s−1}, k)
            pred, elem = (t.to(logits.device) for t in levels[s][1:])  # (m_s, s) each
            left = lw_set[:, None, :].masked_fill(members_before, smallest)  # (batch, m_{s−1}, k)
            log_r = torch.cat([lw_rest[:, None, None].expand(-1, len(members_before), 1), left], -1).logsumexp(-1)
            f = (f[:, pred] + lw_set[:, elem] - log_r[:, pred]).logsumexp(-1)  # (batch, m_s)
        return f[:, 0]

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One set per row by Gumbel-top-k (the ``k`` largest ``l_i + G_i``: a Plackett–Luce draw), ``(batch, n)``."""
        keys = self.logits + _gumbel(tuple(self.logits.shape), self.logits, generator)
        return self._ones(keys.topk(self.k, dim=-1).indices)

    def mode(self) -> torch.Tensor:
        """The ``k`` items with the largest logits, shape ``(batch, n)``: the most likely set under
        Plackett–Luce (also checked by enumeration in ``tests/test_heads.py``).

        Why: draw item ``i``'s time ``T_i ~ Exp(w_i)``; the order of the times is a Plackett–Luce draw,
        so ``S`` is drawn iff ``max_S T < min_{∉S} T``. Let ``S = A ∪ {j}``, ``S' = A ∪ {j'}``,
        ``w_j' ≥ w_j``. Given the other times the event is ``g(T_j, T_j') = 1`` for ``S`` and
        ``g(T_j', T_j) = 1`` for ``S'``, with ``g(a, b) = 0`` unless ``a < b``; swapping the two
        densities changes ``e^{−w_j a − w_j' b}`` into ``e^{−w_j' a − w_j b}``, larger by
        ``e^{(w_j' − w_j)(b − a)} ≥ 1`` where ``a < b``. So trading an item for a heavier one never
        lowers a set's probability, and swaps lead from any set to the top-k set."""
        return self._ones(self.logits.topk(self.k, dim=-1).indices)

    def entropy(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """Single-sample Monte Carlo estimate of the entropy, shape ``(batch,)``: value ``−log p(S)`` for a
        fresh sample ``S``, gradient unbiased for ``∇H`` (see the module docstring)."""
        return _mc_entropy(self, generator)

    def _ones(self, index: torch.Tensor) -> torch.Tensor:
        """0/1 actions ``(batch, n)`` with ones at ``index`` ``(batch, k)``."""
        return torch.zeros_like(self.logits).scatter(-1, index, 1.0)
