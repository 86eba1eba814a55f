"""Which Triton model a detection request goes to: the entry point, a version's route, or an A/B pick.

The repository serves every built version ``N`` of a detector through a route, the entry point
ensemble pinned to that version and named ``<entry point>_v<N>`` (``detect_ensemble_v2``); the entry
point itself follows the latest version or the one it is pinned to. A client therefore targets a
version by calling its route, and splits traffic between versions by picking a route per request,
by weight::

    TRITON_AB_SPLIT="1:90,2:10"   # 90 % to version 1, 10 % to version 2

Which version actually answered comes back in every response (``Detections.model_version``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from yolo26_triton.contract import is_version, route_name

__all__ = [
    "VersionPicker",
    "VersionWeights",
    "format_split",
    "is_version",
    "parse_split",
    "route_name",
    "split_problem",
]

VersionWeights = tuple[tuple[str, int], ...]
"""``((version, weight), ...)``, as parsed from ``"1:90,2:10"``."""


def parse_split(text: str) -> VersionWeights:
    """Parses ``"1:90,2:10"`` into ``(("1", 90), ("2", 10))``.

    Raises:
        ValueError: An entry is not ``version:weight`` with integers; the message quotes it.
    """
    pairs = []
    for entry in text.split(","):
        version, separator, weight = (part.strip() for part in entry.partition(":"))
        if not separator or not weight.lstrip("-").isdigit():
            raise ValueError(f"entry {entry.strip()!r} is not version:weight, e.g. 1:90")
        pairs.append((version, int(weight)))
    return tuple(pairs)


def split_problem(split: Sequence[tuple[str, int]]) -> str | None:
    """What is wrong with a version split, or None when it is usable."""
    if not split:
        return "expected at least one version:weight"
    versions = [version for version, _ in split]
    if not all(is_version(version) for version in versions):
        return "versions must be positive integers"
    if len(set(versions)) != len(versions):
        return "each version may appear once"
    if not all(
        isinstance(weight, int) and not isinstance(weight, bool) and weight > 0 for _, weight in split
    ):
        return "weights must be integers > 0"
    return None


def format_split(split: Sequence[tuple[str, int]]) -> str:
    """``(("1", 90), ("2", 10))`` as ``"1:90,2:10"``."""
    return ",".join(f"{version}:{weight}" for version, weight in split)


class VersionPicker:
    """Picks a version per request, each with probability ``weight / sum(weights)``.

    Args:
        split: The versions and their weights.
        rng: The random source; seed one for a reproducible sequence of picks.
    """

    def __init__(self, split: VersionWeights, rng: random.Random | None = None) -> None:
        problem = split_problem(split)
        if problem:
            raise ValueError(f"version split {format_split(split)!r}: {problem}")
        self._versions = [version for version, _ in split]
        self._weights = [weight for _, weight in split]
        self._rng = rng or random.Random()

    def pick(self) -> str:
        """One version, drawn by weight."""
        return self._rng.choices(self._versions, weights=self._weights)[0]
