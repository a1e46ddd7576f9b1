"""How an environment's scores are normalised."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """Which return scores 1.0 and which scores 0.0.

    The environment puts the two reference values into ``info["optimal_value"]`` (the 1.0 end)
    and ``info["random_value"]`` (the 0.0 end) of the info that comes with each observation. With
    ``per="decision"`` they are the references of the state that observation describes; with
    ``per="episode"`` the first decision's info (from ``reset``) carries the references' whole
    episode returns and later ones carry 0. Either way, an episode's normalised return is
    ``(R − R_random) / (R_optimal − R_random)``, both references summed over the episode's
    decisions.

    Attributes:
        high: what ``optimal_value`` is, in words.
        high_is_optimum: True when ``optimal_value`` is the exact optimum (no agent can score
            above 1.0); False when it is a named reference policy or a bound.
        high_is_bound: True when ``optimal_value`` is an upper bound on what any agent can get
            (a relaxation), so no agent scores above 1.0 but 1.0 may be out of reach; False for
            the exact optimum and for a reference policy (which an agent may beat).
        low: what ``random_value`` is, in words.
        per: ``"decision"`` or ``"episode"``, as above.
    """

    high: str
    high_is_optimum: bool
    low: str
    per: str = "decision"
    high_is_bound: bool = False

    def __post_init__(self):
        if self.per not in ("decision", "episode"):
            raise ValueError(f"Reference: per must be 'decision' or 'episode', got {self.per!r}")
