"""The targets of :mod:`benchmarks.run`: ratios of one run, judged only where both sides were run."""

from __future__ import annotations

from benchmarks.harness import CLIENT, Measurement
from benchmarks.targets import LINK, LOOPBACK, Results, targets


def test_targets_compare_the_systems_of_one_run() -> None:
    def m(system: str, level: int, images: int, client_cpu_s: float = 1.0) -> Measurement:
        return Measurement(system, level, images, 1.0, 1.0, 1.0, 0, {CLIENT: client_cpu_s})

    loopback = [
        m("triton", 1, 20, 0.1),
        m("triton", 8, 33, 0.2),
        m("ultralytics", 1, 18, 1.0),
        m("ultralytics", 8, 34, 2.0),
        m("in-process", 1, 25),
        m("in-process", 8, 33),
    ]
    link = [m("triton", 4, 30), m("ultralytics", 4, 12)]
    verdicts = {
        target.name: (round(value, 3) if value is not None else None, met)
        for target in targets((1, 8))
        for value, met in [target.evaluate(Results.of(loopback, link))]
    }
    assert verdicts == {
        "a/c images/s at c=1, loopback": (1.111, True),
        "a/c images/s at c=8, loopback": (0.971, False),
        f"a/c images/s at c=4, {LINK}": (2.5, True),
        "a/b images/s at c=1": (0.8, True),
        "a/b images/s at c=8": (1.0, True),
        "client CPU per image a/c at c=1, loopback": (0.09, True),  # 5 ms against 55.6 ms
        "client CPU per image a/c at c=8, loopback": (0.103, True),
        "a at c=8 / a at c=1 images/s": (1.65, True),
    }
    assert targets((1,))[1].evaluate(Results.of(loopback))[1] is None  # no link run: not judged
    assert LOOPBACK != LINK
