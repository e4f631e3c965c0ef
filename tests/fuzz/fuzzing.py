"""What the fuzz tests share: the hypothesis profiles, each target's budget, and the count of
examples each target ran.

The ``ci`` profile (the default) derandomizes, so a run is the same run everywhere, and
keeps no example database in the tree; ``HYPOTHESIS_PROFILE=long`` multiplies every
budget by 20 and draws fresh examples, for a longer hunt by hand.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("long", database=None, print_blob=True)
LONG = os.environ.get("HYPOTHESIS_PROFILE") == "long"
settings.load_profile("long" if LONG else "ci")

RUNS: dict[str, dict[str, int]] = {}  # target -> outcome -> examples


def budget(examples: int) -> int:
    """A target's max_examples: fixed in CI, 20 times as many under the long profile."""
    return examples * 20 if LONG else examples


def count(target: str, outcome: str) -> None:
    """Note one example of ``target`` and how it ended (accepted, refused, a status code)."""
    outcomes = RUNS.setdefault(target, {})
    outcomes[outcome] = outcomes.get(outcome, 0) + 1


def summary() -> str:
    return "\n".join(
        f"  {target}: {sum(outcomes.values())} examples ("
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())) + ")"
        for target, outcomes in sorted(RUNS.items())
    )
