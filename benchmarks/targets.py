"""The targets of :mod:`benchmarks.run`: ratios measured in ONE run on one machine.

Targets are ratios of images/s (or of CPU per image) measured in one run (issue #13): the ensemble
(a) must never lose to Ultralytics' documented Triton path (c), stay close to the same ops in one
process (b), cost the client little CPU, and still gain from concurrency. A target whose levels were
not run is not judged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .harness import CLIENT, Measurement

LOOPBACK, LINK = "loopback", "1 Gbit/s link"
Network = str
Key = tuple[Network, str, int]
"""(network, system, concurrency)."""


@dataclass(frozen=True)
class Results:
    """Everything one run measured, by (network, system, concurrency)."""

    measurements: dict[Key, Measurement]

    @classmethod
    def of(cls, loopback: Sequence[Measurement], link: Sequence[Measurement] = ()) -> Results:
        """Indexes the loopback and link measurements."""
        table = {(LOOPBACK, m.system, m.concurrency): m for m in loopback}
        table.update({(LINK, m.system, m.concurrency): m for m in link})
        return cls(table)

    def throughput(self, network: Network, system: str, level: int) -> float | None:
        """Images/s, or None if not measured."""
        found = self.measurements.get((network, system, level))
        return found.throughput if found is not None else None

    def client_cpu(self, network: Network, system: str, level: int) -> float | None:
        """Client CPU ms per image, or None if not measured."""
        found = self.measurements.get((network, system, level))
        return found.cpu_ms_per_image(CLIENT) if found is not None else None


@dataclass(frozen=True)
class Target:
    """One target: ``value(results) >= threshold`` (or ``<=`` with ``at_most``)."""

    name: str
    threshold: float
    value: Callable[[Results], float | None]
    at_most: bool = False
    kind: str = ""
    """Which explanation applies when missed (see :func:`explain_miss`)."""

    def evaluate(self, results: Results) -> tuple[float | None, bool | None]:
        """``(value, met)``; ``(None, None)`` when a needed level was not measured."""
        value = self.value(results)
        if value is None:
            return None, None
        return value, (value <= self.threshold if self.at_most else value >= self.threshold)

    @property
    def shown_threshold(self) -> str:
        """``>= 1.0`` or ``<= 0.2``."""
        return f"{'<=' if self.at_most else '>='} {self.threshold:g}"


def ratio(top: float | None, bottom: float | None) -> float | None:
    """``top / bottom``; None when either is missing or ``bottom`` is 0."""
    return top / bottom if top is not None and bottom else None


Side = tuple[Network, str, int]
"""(network, system, concurrency) of one side of a ratio."""


def _images_per_s(top: Side, bottom: Side) -> Callable[[Results], float | None]:
    return lambda results: ratio(results.throughput(*top), results.throughput(*bottom))


def _client_cpu(top: Side, bottom: Side) -> Callable[[Results], float | None]:
    return lambda results: ratio(results.client_cpu(*top), results.client_cpu(*bottom))


def targets(levels: Sequence[int]) -> list[Target]:
    """The issue's targets for the measured ``levels`` (a/c and client CPU at each loopback level)."""
    a, b, c = "triton", "in-process", "ultralytics"
    rows = [
        Target(
            f"a/c images/s at c={n}, loopback",
            1.0,
            _images_per_s((LOOPBACK, a, n), (LOOPBACK, c, n)),
            kind="a/c",
        )
        for n in levels
    ]
    rows += [
        Target(f"a/c images/s at c=4, {LINK}", 2.0, _images_per_s((LINK, a, 4), (LINK, c, 4)), kind="link"),
        Target("a/b images/s at c=1", 0.8, _images_per_s((LOOPBACK, a, 1), (LOOPBACK, b, 1)), kind="a/b"),
        Target("a/b images/s at c=8", 0.95, _images_per_s((LOOPBACK, a, 8), (LOOPBACK, b, 8)), kind="a/b"),
    ]
    rows += [
        Target(
            f"client CPU per image a/c at c={n}, loopback",
            0.2,
            _client_cpu((LOOPBACK, a, n), (LOOPBACK, c, n)),
            at_most=True,
            kind="cpu",
        )
        for n in levels
    ]
    rows.append(
        Target(
            "a at c=8 / a at c=1 images/s",
            1.5,
            _images_per_s((LOOPBACK, a, 8), (LOOPBACK, a, 1)),
            kind="scaling",
        )
    )
    return rows
