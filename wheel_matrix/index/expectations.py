"""Which torch minors ``verify --resolve`` has pip and uv resolve in each channel.

An expectation names, per channel, the torch minors that must resolve there:
what matrix.yaml builds (the CLI works it out from the plan), or the wheels a
release just built. A minor it names with no live wheel in the channel, or a
channel it names that the index lacks, is a fault before any installer runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from wheel_matrix.index.page_check import Fault


def _minor_key(torch: str) -> tuple[int, ...]:
    return tuple(int(p) for p in torch.split("."))


@dataclass(frozen=True)
class Expected:
    """The torch minors each channel must have: what matrix.yaml builds, or what was just built."""

    torches: Mapping[str, Sequence[str]]  # channel -> torch minors
    source: str  # what says so, for messages: "matrix.yaml builds", "dist/wheels holds"


@dataclass
class ResolutionPlan:
    """Which torch minors to resolve in each channel, and what is wrong before trying."""

    torches: dict[str, list[str]] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def plan_resolution(
    channels: list[str],
    live: Mapping[str, set[str]],
    yanked: Mapping[str, set[str]] | None = None,
    *,
    torches: list[str] | None = None,
    expected: Expected | None = None,
    project: str = "causal-conv1d",
) -> ResolutionPlan:
    """The torch minors to resolve per channel.

    ``live`` (and ``yanked``) are the minors each channel has unyanked (only
    yanked) causal-conv1d wheels for. ``torches`` names the minors outright;
    otherwise ``expected`` says which each channel should have, and a minor it
    names that has no live wheel in the channel is a fault. Without either,
    each channel's own minors are resolved.
    """
    plan = ResolutionPlan()
    yanked = yanked or {}
    for channel in channels:
        have = live.get(channel, set())
        if torches:
            plan.torches[channel] = sorted(set(torches), key=_minor_key)
            continue
        if expected is None:
            plan.torches[channel] = sorted(have, key=_minor_key)
            continue
        wanted = sorted(expected.torches.get(channel, []), key=_minor_key)
        if not wanted:
            plan.notes.append(
                f"{channel}: nothing that {expected.source} is for this channel; "
                "nothing resolved there"
            )
        for torch in wanted:
            if torch in have:
                continue
            what = "only yanked" if torch in yanked.get(channel, set()) else "no"
            plan.faults.append(
                Fault(
                    f"{channel}/",
                    f"{what} {project} wheels for torch {torch}, which "
                    f"{expected.source} for this channel",
                )
            )
        extra = sorted(have - set(wanted), key=_minor_key)
        if extra and wanted:
            plan.notes.append(
                f"{channel}: torch {', '.join(extra)} is not what {expected.source} "
                "for this channel; not resolved"
            )
        plan.torches[channel] = [t for t in wanted if t in have]
    if expected is not None and not torches:
        for channel, named in sorted(expected.torches.items()):
            if channel not in channels and named:
                plan.faults.append(
                    Fault(
                        f"{channel}/",
                        f"no such channel, but {expected.source} torch "
                        f"{', '.join(sorted(named, key=_minor_key))} for it",
                    )
                )
    return plan


