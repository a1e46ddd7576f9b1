"""Tests for ``agents.heads``: the autoregressive and without-replacement heads against enumeration."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from standin.agents.heads import AutoregressiveHead, WithoutReplacementDistribution, WithoutReplacementHead

pytestmark = pytest.mark.usefixtures("one_torch_thread")

N_SAMPLES = 20000
FREQ_ATOL = 0.012
"""Sample frequency vs probability: one frequency's std is at most sqrt(0.25 / 20000) = 0.0035, so ~3.4σ."""


def randomise(module: torch.nn.Module, seed: int, std: float = 1.0) -> torch.nn.Module:
    """Every parameter ~ N(0, std²), in float64: sharper distributions than the near-uniform init."""
    module.double()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(std * torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def all_actions(nvec) -> torch.Tensor:
    """Every action of ``MultiDiscrete(nvec)``, shape ``(Π nvec, C)``, float64."""
    return torch.tensor(list(itertools.product(*(range(v) for v in nvec))), dtype=torch.float64)


def all_sets(n: int, k: int) -> torch.Tensor:
    """Every k-of-n action as 0/1 rows, shape ``(C(n, k), n)``, float64."""
    rows = torch.zeros((math.comb(n, k), n), dtype=torch.float64)
    for r, subset in enumerate(itertools.combinations(range(n), k)):
        rows[r, list(subset)] = 1.0
    return rows


def enumerate_log_prob(dist, actions: torch.Tensor, batch: int) -> torch.Tensor:
    """``dist.log_prob`` of every action in every row, shape ``(batch, |A|)``."""
    return torch.stack([dist.log_prob(a.expand(batch, -1)) for a in actions], dim=1)


def index_of(samples: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """Row index in ``actions`` of each sample, shape ``(len(samples),)`` (every sample must be listed)."""
    match = (samples[:, None, :] == actions[None, :, :]).all(-1)
    assert match.any(1).all(), "a sample is not a valid action"
    return match.int().argmax(1)


# ------------------------------------------------------------------------------ autoregressive


AR_NVECS = [(2, 2, 2, 2), (3, 2, 3), (5,), (2,) * 6]


@pytest.mark.parametrize("nvec", AR_NVECS)
def test_autoregressive_is_a_distribution_over_all_actions(nvec):
    gen = torch.Generator().manual_seed(len(nvec))
    head = randomise(AutoregressiveHead(5, nvec, hidden=16), seed=1, std=0.5)
    h = torch.randn((4, 5), generator=gen, dtype=torch.float64)
    actions = all_actions(nvec)
    p = enumerate_log_prob(head(h), actions, 4).exp()
    torch.testing.assert_close(p.sum(1), torch.ones(4, dtype=torch.float64))
    assert (p > 0).all(), "no mask: every action has some probability"


@pytest.mark.parametrize("nvec", AR_NVECS)
def test_autoregressive_mask_forbids_values(nvec):
    gen = torch.Generator().manual_seed(len(nvec))
    head = randomise(AutoregressiveHead(5, nvec, hidden=16), seed=2)
    h = torch.randn((3, 5), generator=gen, dtype=torch.float64)
    C, K = len(nvec), max(nvec)
    allowed = torch.ones((3, C, K), dtype=torch.bool)
    allowed[0, 0, 0] = False  # row 0: the first component is never 0
    allowed[1, C - 1, 1] = False  # row 1: the last component is never 1
    allowed[2, :, 1:] = False  # row 2: everything 0, the only allowed action
    dist = head(h, allowed)
    actions = all_actions(nvec)
    p = enumerate_log_prob(dist, actions, 3).exp()
    torch.testing.assert_close(p.sum(1), torch.ones(3, dtype=torch.float64))
    forbidden = torch.stack([actions[:, 0] == 0, actions[:, -1] == 1, (actions != 0).any(1)])  # (3, |A|)
    assert (p[forbidden] == 0).all()
    for actions_drawn in (dist.sample(gen), dist.mode()):
        rows = index_of(actions_drawn, actions)
        assert not forbidden[torch.arange(3), rows].any()


def test_autoregressive_logits_depend_only_on_earlier_components():
    nvec = (3, 2, 3, 2)
    head = randomise(AutoregressiveHead(4, nvec, hidden=12), seed=3)
    gen = torch.Generator().manual_seed(0)
    h = torch.randn((1, 4), generator=gen, dtype=torch.float64)
    base = torch.tensor([[1.0, 0.0, 2.0, 1.0]], dtype=torch.float64)
    logits = head.conditional_logits(h, base)
    for j, v in enumerate(nvec):
        other = base.clone()
        other[0, j] = (base[0, j] + 1) % v  # change component j only
        changed = head.conditional_logits(h, other)
        torch.testing.assert_close(changed[:, : j + 1], logits[:, : j + 1], rtol=0, atol=0)
        if j + 1 < len(nvec):  # ... and the later components do see it
            assert not torch.allclose(changed[:, j + 1 :], logits[:, j + 1 :])


def test_autoregressive_sample_frequencies_match_probabilities():
    nvec = (3, 2, 3)
    head = randomise(AutoregressiveHead(3, nvec, hidden=8), seed=4, std=0.7)
    gen = torch.Generator().manual_seed(5)
    h = torch.randn((1, 3), generator=gen, dtype=torch.float64).expand(N_SAMPLES, -1)
    allowed = torch.ones((1, 3, 3), dtype=torch.bool)
    allowed[0, 2, 1] = False  # the last component is never 1
    dist = head(h, allowed)
    actions = all_actions(nvec)
    p = enumerate_log_prob(head(h[:1], allowed), actions, 1)[0].exp()  # (18,)
    samples = dist.sample(gen)
    assert samples.shape == (N_SAMPLES, 3) and samples.dtype == torch.float64
    freq = torch.bincount(index_of(samples, actions), minlength=len(actions)).double() / N_SAMPLES
    assert (freq[actions[:, 2] == 1] == 0).all()
    torch.testing.assert_close(freq, p, atol=FREQ_ATOL, rtol=0)


def test_autoregressive_sampling_is_reproducible_with_a_generator():
    head = randomise(AutoregressiveHead(3, (2,) * 5), seed=6)
    h = torch.randn((64, 3), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    a = head(h).sample(torch.Generator().manual_seed(9))
    b = head(h).sample(torch.Generator().manual_seed(9))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_autoregressive_mode_is_the_greedy_sequence():
    nvec = (3, 2, 3, 4)
    head = randomise(AutoregressiveHead(4, nvec, hidden=16), seed=7)
    h = torch.randn((50, 4), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mode = head(h).mode()
    logits = head.conditional_logits(h, mode)  # each component's conditional given the greedy prefix
    valid = torch.arange(4)[None, :] < torch.tensor(nvec)[:, None]
    greedy = logits.masked_fill(~valid, -math.inf).argmax(-1).double()
    torch.testing.assert_close(mode, greedy, rtol=0, atol=0)


def test_autoregressive_head_learns_a_correlation_a_factored_head_cannot():
    # Target: 01 and 10 with probability 1/2 each. A factored head puts at most 1/2 on {01, 10}
    # (p0(1 − p1) + (1 − p0)p1 ≤ 1/2 whenever the product also fits 00 and 11 as the MLE would).
    torch.manual_seed(0)
    head = AutoregressiveHead(4, (2, 2), hidden=16).double()
    h = torch.randn((1, 4), generator=torch.Generator().manual_seed(0), dtype=torch.float64).expand(2, -1)
    targets = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.01)
    for _ in range(300):
        loss = -head(h).log_prob(targets).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        p = enumerate_log_prob(head(h[:1]), all_actions((2, 2)), 1)[0].exp()  # order 00, 01, 10, 11
    assert p[1] + p[2] > 0.9
    assert p[1] > 0.3 and p[2] > 0.3


def test_autoregressive_gradients_flow():
    head = randomise(AutoregressiveHead(4, (3, 2, 3), hidden=8), seed=8)
    h = torch.randn((16, 4), generator=torch.Generator().manual_seed(2), dtype=torch.float64, requires_grad=True)
    dist = head(h)
    dist.log_prob(dist.sample(torch.Generator().manual_seed(3))).sum().backward()
    for name, p in [*head.named_parameters(), ("h", h)]:
        assert p.grad is not None and torch.isfinite(p.grad).all() and (p.grad != 0).any(), name


def test_autoregressive_rejects_bad_arguments():
    with pytest.raises(ValueError, match="nvec"):
        AutoregressiveHead(4, [])
    with pytest.raises(ValueError, match="nvec"):
        AutoregressiveHead(4, [2, 0])


# ---------------------------------------------------------------------------- without replacement


def slow_set_probability(logits: list[float], subset: tuple[int, ...]) -> float:
    """``P(subset)`` under Plackett–Luce without replacement, by summing over all ``k!`` draw orders.

    An order ``i_1..i_k`` has probability ``Π_t w_{i_t} / (W − w_{i_1} − … − w_{i_{t−1}})`` with
    ``w = exp(logits)`` (``−inf``: a forbidden item, weight 0) and ``W = Σ w``.
    """
    w = [math.exp(x) for x in logits]
    total = sum(w)
    probability = 0.0
    for order in itertools.permutations(subset):
        p, left = 1.0, total
        for i in order:
            p *= w[i] / left
            left -= w[i]
        probability += p
    return probability


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("masked", [False, True])
def test_without_replacement_log_prob_is_the_exact_set_probability(k, masked):
    n = 6
    gen = torch.Generator().manual_seed(10 * k + masked)
    logits = 2.0 * torch.randn((4, n), generator=gen, dtype=torch.float64)
    allowed = torch.ones((4, n), dtype=torch.bool)
    if masked:
        allowed[1, 0] = False
        allowed[2, [2, 5] if n - 2 >= k else [2]] = False
    dist = WithoutReplacementDistribution(logits, k, allowed if masked else None)
    sets = all_sets(n, k)
    logp = enumerate_log_prob(dist, sets, 4)
    p = logp.exp()
    torch.testing.assert_close(p.sum(1), torch.ones(4, dtype=torch.float64))

    # against the slow sum over k! orders, forbidden items having weight 0
    masked_logits = logits.masked_fill(~allowed, -math.inf)
    for b in range(4):
        for r, row in enumerate(sets):
            subset = tuple(row.nonzero().flatten().tolist())
            want = slow_set_probability(masked_logits[b].tolist(), subset)
            assert math.isclose(p[b, r].item(), want, rel_tol=1e-9, abs_tol=1e-300), (b, subset)
    forbidden = (sets.bool()[None] & ~allowed[:, None, :]).any(-1)  # (4, |A|)
    assert (p[forbidden] == 0).all() and (p[~forbidden] > 0).all()


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_without_replacement_mode_is_the_most_likely_set(k):
    n = 6
    logits = 1.5 * torch.randn((20, n), generator=torch.Generator().manual_seed(k), dtype=torch.float64)
    dist = WithoutReplacementDistribution(logits, k)
    sets = all_sets(n, k)
    best = sets[enumerate_log_prob(dist, sets, 20).argmax(1)]
    torch.testing.assert_close(dist.mode(), best, rtol=0, atol=0)


def test_without_replacement_sample_frequencies_match_probabilities():
    n, k = 6, 3
    gen = torch.Generator().manual_seed(11)
    logits = torch.randn((1, n), generator=gen, dtype=torch.float64).expand(N_SAMPLES, -1)
    allowed = torch.tensor([True, True, False, True, True, True])  # item 2 is never drawn
    dist = WithoutReplacementDistribution(logits, k, allowed)
    sets = all_sets(n, k)
    p = enumerate_log_prob(WithoutReplacementDistribution(logits[:1], k, allowed), sets, 1)[0].exp()
    samples = dist.sample(gen)
    assert samples.shape == (N_SAMPLES, n) and samples.dtype == torch.float64
    assert (samples.sum(1) == k).all() and (samples[:, 2] == 0).all()
    freq = torch.bincount(index_of(samples, sets), minlength=len(sets)).double() / N_SAMPLES
    torch.testing.assert_close(freq, p, atol=FREQ_ATOL, rtol=0)


def test_without_replacement_head_gradients_flow():
    head = randomise(WithoutReplacementHead(4, 8, 3), seed=12)
    h = torch.randn((16, 4), generator=torch.Generator().manual_seed(4), dtype=torch.float64, requires_grad=True)
    dist = head(h)
    actions = dist.sample(torch.Generator().manual_seed(5))
    assert (actions.sum(1) == 3).all()
    dist.log_prob(actions).sum().backward()
    for name, p in [*head.named_parameters(), ("h", h)]:
        assert p.grad is not None and torch.isfinite(p.grad).all() and (p.grad != 0).any(), name


def test_without_replacement_is_stable_for_large_k_and_spread_logits():
    # k = 12 (the limit) over 30 items, logits spread over ±40: float32 agrees with float64.
    gen = torch.Generator().manual_seed(13)
    logits = 40.0 * torch.randn((8, 30), generator=gen, dtype=torch.float64)
    dist64 = WithoutReplacementDistribution(logits, 12)
    actions = dist64.sample(gen)
    actions[0] = dist64.mode()[0]
    want = dist64.log_prob(actions)
    logits32 = logits.float().requires_grad_()
    got = WithoutReplacementDistribution(logits32, 12).log_prob(actions.float())
    assert torch.isfinite(got).all() and (got <= 0).all()
    torch.testing.assert_close(got.double(), want, rtol=1e-4, atol=1e-3)
    got.sum().backward()
    assert torch.isfinite(logits32.grad).all()


def test_without_replacement_rejects_bad_arguments():
    with pytest.raises(ValueError, match="k = 13"):
        WithoutReplacementHead(4, 20, 13)
    with pytest.raises(ValueError, match="k = 13"):
        WithoutReplacementDistribution(torch.zeros((1, 20)), 13)
    with pytest.raises(ValueError, match="k must be in"):
        WithoutReplacementHead(4, 3, 4)
    allowed = torch.tensor([[True, True, False, False, False]])
    with pytest.raises(ValueError, match="fewer than k = 3"):
        WithoutReplacementDistribution(torch.zeros((1, 5)), 3, allowed)
    with pytest.raises(ValueError, match="exactly k = 2"):
        WithoutReplacementDistribution(torch.zeros((1, 5)), 2).log_prob(torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0]]))


# ------------------------------------------------------------------------------------- entropy


def exact_entropy(logp: torch.Tensor) -> torch.Tensor:
    """``−Σ_a p(a) log p(a)`` from enumerated log-probabilities ``(batch, |A|)``; forbidden actions add 0."""
    p = logp.exp()
    return -(p * torch.where(p > 0, logp, 0.0)).sum(1)


def check_entropy_estimate(make_dist, actions: torch.Tensor, params: list[torch.Tensor], seed: int) -> None:
    """``entropy()`` averaged over many rows of one distribution: value and gradient match the exact entropy."""
    exact = exact_entropy(enumerate_log_prob(make_dist(1), actions, 1))[0]
    exact_grads = torch.autograd.grad(exact, params)

    estimate = make_dist(N_SAMPLES).entropy(torch.Generator().manual_seed(seed)).mean()
    grads = torch.autograd.grad(estimate, params)
    assert abs(estimate.item() - exact.item()) < 0.03
    want = torch.cat([g.flatten() for g in exact_grads])
    got = torch.cat([g.flatten() for g in grads])
    # Monte Carlo: within 15% of the exact gradient's norm. The naive −∇log p(a) would average to ~0.
    assert (got - want).norm() < 0.15 * want.norm(), (got, want)


def test_autoregressive_entropy_is_an_unbiased_estimate():
    head = randomise(AutoregressiveHead(3, (3, 2), hidden=8), seed=14, std=0.5)
    h = torch.randn((1, 3), generator=torch.Generator().manual_seed(6), dtype=torch.float64)
    check_entropy_estimate(lambda b: head(h.expand(b, -1)), all_actions((3, 2)), list(head.parameters()), seed=15)


def test_without_replacement_entropy_is_an_unbiased_estimate():
    logits = torch.randn((1, 5), generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    logits.requires_grad_()
    check_entropy_estimate(
        lambda b: WithoutReplacementDistribution(logits.expand(b, -1), 2), all_sets(5, 2), [logits], seed=16
    )
