"""agents.replay.Replay: a ring of one-step transitions, checked against a list of the last ones."""

from __future__ import annotations

import numpy as np
import pytest

from standin.agents.replay import Replay


def test_the_ring_keeps_the_last_capacity_transitions_with_their_next_actions_and_masks():
    rng = np.random.default_rng(0)
    replay, kept = Replay(5, obs_dim=2, m=3), []
    for step in range(12):
        obs, act, nxt = rng.standard_normal(2), rng.integers(0, 2, 3), rng.standard_normal(2)
        allowed = rng.integers(0, 2, 3).astype(np.int8) if step >= 4 else None  # masks from step 4 on
        i = replay.add(obs, act, float(step), nxt, step % 3 != 0, allowed)
        assert i == step % 5 and replay.size == min(step + 1, 5)
        replay.set_next_action(i, 1 - act)
        kept.append((obs, act, float(step), nxt, step % 3 != 0, allowed))
    b = replay.batch(np.arange(5))
    for slot in range(5):
        step = 10 + slot if slot < 2 else 5 + slot  # slots 0, 1 hold steps 10, 11; 2..4 hold steps 7..9
        obs, act, reward, nxt, boot, allowed = kept[step]
        np.testing.assert_allclose(b.obs[slot], obs.astype(np.float32))
        np.testing.assert_array_equal(b.action[slot], act)
        np.testing.assert_array_equal(b.next_action[slot], 1 - act)
        assert (b.reward[slot], b.bootstrap[slot]) == (reward, boot)
        np.testing.assert_allclose(b.next_obs[slot], nxt.astype(np.float32))
        np.testing.assert_array_equal(b.allowed[slot], allowed)
    assert Replay(3, 1, 2).batch(np.arange(3)).allowed is None  # no mask seen: none kept
    with pytest.raises(ValueError, match="capacity"):
        Replay(0, 1, 2)
