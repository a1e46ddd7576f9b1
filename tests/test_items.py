"""Item networks: permutation equivariance, exact export to search landscapes, other item counts."""

import itertools

import numpy as np
import pytest
import torch

from standin.agents.items import ItemMLPQ, ItemPolicy, ItemQuadraticQ, ItemTorso
from standin.search.spaces import Discrete

pytestmark = pytest.mark.usefixtures("one_torch_thread")

D, HIDDEN = 4, 8
"""Columns per row (the last ``g`` global) and the networks' width: tiny, so every test is fast."""


def item_obs(batch: int, n: int, g: int, seed: int = 0) -> np.ndarray:
    """Random ``(batch, n, D)`` observations whose last ``g`` columns are the same on every row."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(batch, n, D)).astype(np.float32)
    if g:
        obs[:, :, D - g :] = rng.normal(size=(batch, 1, g)).astype(np.float32)
    return obs


def slot_permutation(perm: np.ndarray, nvec) -> np.ndarray:
    """The encoding's slots reordered as ``perm`` reorders the items (new item ``j`` = old ``perm[j]``)."""
    if nvec is None:
        return perm
    offsets = Discrete(tuple(nvec)).offsets
    return np.concatenate([np.arange(offsets[i], offsets[i + 1]) for i in perm])


def random_actions(batch: int, n: int, nvec, seed: int = 0) -> np.ndarray:
    """Random actions in search's encoding: bits ``(batch, n)`` or one-hot ``(batch, Σ nvec)``."""
    rng = np.random.default_rng(seed)
    if nvec is None:
        return rng.integers(0, 2, size=(batch, n)).astype(np.float32)
    space = Discrete(tuple(nvec))
    return np.stack([space.encode(rng.integers(0, nvec)) for _ in range(batch)]).astype(np.float32)


def all_actions(n: int, nvec) -> np.ndarray:
    """Every action of ``{0,1}^n`` or of ``MultiDiscrete(nvec)``, in search's encoding."""
    if nvec is None:
        return np.array(list(itertools.product((0, 1), repeat=n)), dtype=np.float32)
    space = Discrete(tuple(nvec))
    grid = itertools.product(*(range(v) for v in nvec))
    return np.stack([space.encode(np.array(a, dtype=np.int64)) for a in grid]).astype(np.float32)


def perturbed(module: torch.nn.Module, scale: float = 0.3) -> torch.nn.Module:
    """``module`` with every parameter moved at random, so no part (σ, small heads) is trivial."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module


def make_value(kind: str, g: int, nvec, **kw):
    if kind == "quadratic":
        return ItemQuadraticQ(D, g, nvec=nvec, rank=kw.get("rank", 3), hidden=HIDDEN)
    return ItemMLPQ(D, g, nvec=nvec, hidden=HIDDEN, pool=kw.get("pool", "mean"))


# ------------------------------------------------------------------------------------ equivariance


@pytest.mark.parametrize("g", [0, 2])
@pytest.mark.parametrize("nvec", [None, (3, 1, 2, 3, 3)], ids=["bits", "categorical"])
def test_torso_and_policy_are_permutation_equivariant(g, nvec):
    torch.manual_seed(0)
    n, perm = 5, np.array([3, 0, 4, 1, 2])
    obs = torch.from_numpy(item_obs(3, n, g))
    permuted = obs[:, perm]
    torso = ItemTorso(D, g, hidden=HIDDEN, layers=2)
    policy = perturbed(ItemPolicy(D, g, nvec=nvec, hidden=HIDDEN, layers=2))
    with torch.no_grad():
        e, ctx = torso(obs)
        e_p, ctx_p = torso(permuted)
        logits, logits_p = policy.logits(obs), policy.logits(permuted)
        value, value_p = policy.value(obs), policy.value(permuted)
    assert e.shape == (3, n, HIDDEN) and ctx.shape == (3, HIDDEN)
    assert logits.shape == ((3, n) if nvec is None else (3, n, max(nvec))) and value.shape == (3,)
    torch.testing.assert_close(e_p, e[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ctx_p, ctx, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(logits_p, logits[:, perm], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(value_p, value, atol=1e-5, rtol=1e-5)
    # flat observations are the same observations
    torch.testing.assert_close(policy.logits(obs.reshape(3, -1)), logits)


def test_globals_are_read_once_and_change_the_output():
    torch.manual_seed(0)
    torso = ItemTorso(D, global_features=2, hidden=HIDDEN)
    obs = torch.from_numpy(item_obs(2, 4, g=2))
    other_rows = obs.clone()
    other_rows[:, 1:, D - 2 :] = 7.0  # only row 0's global columns are read
    moved = obs.clone()
    moved[:, :, D - 2 :] += 1.0
    with torch.no_grad():
        e, ctx = torso(obs)
        torch.testing.assert_close(torso(other_rows)[1], ctx)
        assert not torch.allclose(torso(moved)[1], ctx)


@pytest.mark.parametrize("kind", ["quadratic", "mlp"])
@pytest.mark.parametrize("g", [0, 2])
@pytest.mark.parametrize("nvec", [None, (3, 2, 3)], ids=["bits", "categorical"])
def test_item_values_are_invariant_to_permuting_items_and_action_slots(kind, g, nvec):
    torch.manual_seed(1)
    n = 5 if nvec is None else len(nvec)
    perm = np.array([3, 0, 4, 1, 2])[:n] if nvec is None else np.array([2, 0, 1])
    q = perturbed(make_value(kind, g, nvec))
    obs, actions = item_obs(6, n, g, seed=2), random_actions(6, n, nvec, seed=3)
    slots = slot_permutation(perm, nvec)
    permuted_nvec = None if nvec is None else tuple(np.asarray(nvec)[perm])
    with torch.no_grad():
        want = q(torch.from_numpy(obs), torch.from_numpy(actions))
        got = q(torch.from_numpy(obs[:, perm]), torch.from_numpy(actions[:, slots]), nvec=permuted_nvec)
    assert want.shape == (6,)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


# ------------------------------------------------------------------------------------------ export


EXPORT_CASES = [
    ("quadratic", {"rank": 1}),  # 5r <= m: search's low-rank form
    ("quadratic", {"rank": 3}),  # dense form
    ("mlp", {"pool": "mean"}),
    ("mlp", {"pool": "sqrt"}),
]


@pytest.mark.parametrize("kind,kw", EXPORT_CASES, ids=["quad-r1", "quad-r3", "mlp-mean", "mlp-sqrt"])
@pytest.mark.parametrize("g", [0, 1])
@pytest.mark.parametrize("nvec", [None, (3, 2, 3)], ids=["bits5", "md323"])
def test_exported_landscapes_equal_the_network_on_every_action(kind, kw, g, nvec):
    torch.manual_seed(0)
    n = 5 if nvec is None else len(nvec)
    q = perturbed(make_value(kind, g, nvec, **kw))
    obs = item_obs(2, n, g, seed=4)
    actions = all_actions(n, nvec)
    lands = q.landscapes(obs)
    flat = q.landscape(obs[1].reshape(-1))  # one flat observation
    for i, land in enumerate(lands):
        assert land.m == actions.shape[1]
        with torch.no_grad():
            states = torch.from_numpy(np.repeat(obs[i : i + 1], len(actions), 0))
            net = q(states, torch.from_numpy(actions)).double().numpy()
        np.testing.assert_allclose(land(actions), net, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(flat(actions), lands[1](actions), rtol=1e-5, atol=1e-5)  # float32 torso


# -------------------------------------------------------------------------------- other item counts


@pytest.mark.parametrize("nvec", [None, (3, 3, 3, 3, 3)], ids=["bits", "categorical"])
def test_the_same_weights_run_at_other_item_counts(nvec):
    torch.manual_seed(0)
    policy = perturbed(ItemPolicy(D, 1, nvec=nvec, hidden=HIDDEN))
    values = [perturbed(make_value(kind, 1, nvec)) for kind in ("quadratic", "mlp")]
    for n in (2, 7):
        obs = item_obs(2, n, g=1, seed=n)
        perm = np.roll(np.arange(n), 1)
        other_nvec = None if nvec is None else (3,) * n
        slots = slot_permutation(perm, other_nvec)
        with torch.no_grad():
            logits = policy.logits(torch.from_numpy(obs))
            assert logits.shape == ((2, n) if nvec is None else (2, n, 3))
            torch.testing.assert_close(policy.logits(torch.from_numpy(obs[:, perm])), logits[:, perm])
            value = policy.value(torch.from_numpy(obs))
            torch.testing.assert_close(policy.value(torch.from_numpy(obs[:, perm])), value)
        actions = all_actions(n, other_nvec)
        for q in values:
            land = q.landscape(obs[0])
            with torch.no_grad():
                states = torch.from_numpy(np.repeat(obs[:1], len(actions), 0))
                net = q(states, torch.from_numpy(actions))
                moved = q(states[:, perm], torch.from_numpy(actions[:, slots]))
            np.testing.assert_allclose(land(actions), net.double().numpy(), rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(moved, net, atol=1e-5, rtol=1e-5)


def test_unequal_values_per_item_need_nvec_at_another_item_count():
    q = ItemQuadraticQ(D, nvec=(3, 2, 3), rank=2, hidden=HIDDEN)
    obs = item_obs(1, 4, g=0)
    with pytest.raises(ValueError, match="pass nvec"):
        q.landscape(obs[0])
    assert q.landscape(obs[0], nvec=(2, 3, 1, 3)).m == 9
    with pytest.raises(ValueError, match="at most K"):
        q.landscape(obs[0], nvec=(2, 4, 1, 3))


def test_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="global_features"):
        ItemTorso(D, global_features=D)
    torso = ItemTorso(D)
    with pytest.raises(ValueError, match="n_items"):
        torso(torch.zeros(2, 2 * D + 1))
    with pytest.raises(ValueError, match="rows of"):
        torso(torch.zeros(2, 3, D + 1))
