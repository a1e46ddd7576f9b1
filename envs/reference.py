"""How an environment's scores are normalised."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reference:
    """Which return scores 1.0 and which scores 0.0.

    Per decision, the environment puts the two reference values of the state its observation
    describes into ``info["optimal_value"]`` (the 1.0 end) and ``info["random_value"]`` (the 0.0
    end). An episode's normalised return is ``(R − R_random) / (R_optimal − R_random)``, with
    both references summed over the episode's decisions.

    Attributes:
        high: what ``optimal_value`` is, in words.
        high_is_optimum: True when ``optimal_value`` is the exact optimum (no agent can score
            above 1.0); False when it is a named reference policy or a bound.
        low: what ``random_value`` is, in words.
    """

    high: str
    high_is_optimum: bool
    low: str
