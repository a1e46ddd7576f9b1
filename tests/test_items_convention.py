"""agents.layout: the item-structured observation convention (one feature row per action item).

``action_items`` and ``item_layout`` on every space kind, a user's env (the example of
docs/adding-an-environment.md, run as written), shapes that are not item-structured, the three
packaged families with items, and bad ``item_global_features`` declarations.
"""

from __future__ import annotations

import pathlib
import re
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from standin import envs
from standin.agents.layout import ItemLayout, action_items, item_layout
from standin.envs.slate import KOfN

DOC = pathlib.Path(__file__).parents[1] / "docs" / "adding-an-environment.md"


def box(*shape):
    return spaces.Box(-1.0, 1.0, shape, np.float32)


# ---------------------------------------------------------------------------------- action_items


@pytest.mark.parametrize(
    "space, items",
    [
        (spaces.MultiBinary(5), 5),
        (spaces.MultiBinary((2, 3)), 6),  # flattened
        (KOfN(7, 2), 7),
        (spaces.MultiDiscrete([3, 4, 5]), 3),
        (spaces.MultiDiscrete([[2, 2], [2, 2]]), None),  # not rank 1
        (spaces.Discrete(4), None),
        (box(4), None),
        (spaces.Tuple((spaces.Discrete(2), spaces.Discrete(2))), None),
    ],
)
def test_action_items_counts_bits_and_components(space, items):
    assert action_items(space) == items


# ---------------------------------------------------------------------------------- item_layout


def test_layout_of_each_action_kind():
    assert item_layout(box(5, 3), spaces.MultiBinary(5)) == ItemLayout(5, 3, 0, (1,) * 5)
    assert item_layout(box(6, 1), KOfN(6, 2)) == ItemLayout(6, 1, 0, (1,) * 6)
    assert item_layout(box(3, 4), spaces.MultiDiscrete([5, 2, 7])) == ItemLayout(3, 4, 0, (5, 2, 7))
    assert item_layout(box(6, 2), spaces.MultiBinary((2, 3))) == ItemLayout(6, 2, 0, (1,) * 6)
    assert item_layout(box(4, 2), spaces.Discrete(4)) is None  # a Discrete action has no items


@pytest.mark.parametrize(
    "obs",
    [
        box(10),  # flat
        box(5, 2),  # first dimension is not the number of items
        box(2, 8),  # the transpose
        box(8, 0),  # no feature column
        box(8, 2, 1),  # 3-D
        spaces.MultiBinary((8, 2)),  # not a Box
        spaces.Dict({"items": box(8, 2)}),
        spaces.Discrete(3),
    ],
)
def test_other_observations_are_not_item_structured(obs):
    assert item_layout(obs, spaces.MultiBinary(8)) is None


def test_layout_is_frozen():
    layout = item_layout(box(4, 3), spaces.MultiBinary(4))
    with pytest.raises(AttributeError):
        layout.n_items = 5
    assert layout.item_features == 3


# ---------------------------------------------------------------------------------- a user's env


def doc_example():
    """The example env and the shown ``item_layout`` result of the docs' "Item-structured
    observations" section."""
    section = DOC.read_text().split("## Item-structured observations", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shown = re.search(r">>> item_layout\(.*?\)\n(.*?)\n", section).group(1)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    return namespace["ItemsEnv"], shown


def test_the_docs_example_is_detected_as_shown_and_passes_check_env():
    ItemsEnv, shown = doc_example()
    env = ItemsEnv(n=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the checker has nothing to say
        check_env(env, skip_render_check=True)
    layout = item_layout(env.observation_space, env.action_space, env)
    assert repr(layout) == shown
    obs, _ = env.reset(seed=0)
    assert obs.shape == (8, 2) and env.observation_space.contains(obs)
    assert (obs[:, -1] == obs[0, -1]).all()  # the declared global column is the same on every row


class PlainItems(gym.Env):
    """A user's env with a ``Box(n_items, d)`` observation and nothing else declared."""

    metadata = {"render_modes": []}

    def __init__(self, agents=4, features=3, first=None):
        self.action_space = spaces.MultiDiscrete([3] * agents)
        self.observation_space = box(agents if first is None else first, features)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, True, False, {}


def test_a_plain_user_env_is_detected_without_declaring_anything():
    env = PlainItems()
    assert item_layout(env.observation_space, env.action_space, env) == ItemLayout(4, 3, 0, (3, 3, 3, 3))
    other = PlainItems(first=5)  # one row too many: not the action's items
    assert item_layout(other.observation_space, other.action_space, other) is None


def test_registered_user_env_is_read_through_its_wrappers():
    if "ItemsTest-v0" not in gym.registry:
        gym.register("ItemsTest-v0", entry_point=PlainItems)
    env = gym.make("ItemsTest-v0", agents=3)
    assert item_layout(env.observation_space, env.action_space, env) == ItemLayout(3, 3, 0, (3, 3, 3))


# ---------------------------------------------------------------------------------- bad declarations


@pytest.mark.parametrize("g", [3, 4, -1, 1.5, True, "1", None])
def test_bad_item_global_features_is_a_clear_error(g):
    env = PlainItems(agents=4, features=3)
    env.item_global_features = g
    with pytest.raises(ValueError, match=r"PlainItems: item_global_features must be an integer in 0\.\.2"):
        item_layout(env.observation_space, env.action_space, env)


def test_global_features_on_an_observation_without_items_is_a_clear_error():
    env = PlainItems(agents=4, features=3, first=5)
    env.item_global_features = 1
    with pytest.raises(ValueError, match="PlainItems: item_global_features = 1 declares an item-structured"):
        item_layout(env.observation_space, env.action_space, env)
    env.item_global_features = 0  # declaring none is fine anywhere
    assert item_layout(env.observation_space, env.action_space, env) is None


def test_error_names_the_registered_id():
    if "ItemsBad-v0" not in gym.registry:
        gym.register("ItemsBad-v0", entry_point=PlainItems)
    env = gym.make("ItemsBad-v0")
    env.unwrapped.item_global_features = 7
    with pytest.raises(ValueError, match="ItemsBad-v0: item_global_features"):
        item_layout(env.observation_space, env.action_space, env)


def test_an_env_class_is_read_for_a_class_attribute():
    class Declared(PlainItems):
        item_global_features = 2

    env = Declared()
    assert item_layout(env.observation_space, env.action_space, Declared).global_features == 2
    Declared.item_global_features = 3
    with pytest.raises(ValueError, match="Declared: item_global_features"):
        item_layout(env.observation_space, env.action_space, Declared)


# ---------------------------------------------------------------------------------- packaged envs

FAMILIES = [
    ("standin/Knapsack-v0", {"n": 6}, ItemLayout(6, 2, 0, (1,) * 6)),
    ("standin/Slate-v0", {"N": 5, "k": 2, "topics": 3}, ItemLayout(5, 3 + 2 + 3 + 2, 3 + 2, (1,) * 5)),
    ("standin/Swarm-v0", {"N": 3, "G": 6}, ItemLayout(3, 9, 0, (5, 5, 5))),
]


@pytest.mark.parametrize("env_id, kwargs, want", FAMILIES)
def test_packaged_envs_are_item_structured(env_id, kwargs, want):
    env = envs.make(env_id, **kwargs)
    assert item_layout(env.observation_space, env.action_space, env) == want
    vec = gym.make_vec(env_id, num_envs=2, vectorization_mode="vector_entry_point", **kwargs)
    assert item_layout(vec.single_observation_space, vec.single_action_space, vec) == want
    obs, _ = vec.reset(seed=0)
    assert obs.shape == (2, want.n_items, want.features)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*A Box observation space m\w+ value is -?infinity")
        check_env(env.unwrapped, skip_render_check=True)


def test_slate_global_features_are_identical_on_every_row():
    env = envs.make("standin/Slate-v0", N=6, k=2, topics=4, horizon=5)
    layout = item_layout(env.observation_space, env.action_space, env)
    g, T = layout.global_features, 4
    obs, _ = env.reset(seed=3)
    for t in range(1, 5):
        shared = obs[:, -g:]
        assert (shared == shared[0]).all()
        np.testing.assert_array_equal(obs[:, :T].sum(axis=1), 1.0)  # the own columns: one-hot topic, q, p
        assert not (obs[:, T] == obs[0, T]).all()  # qualities differ between items
        assert shared[0, -1] == np.float32((t - 1) / 5)  # t / horizon
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            break
