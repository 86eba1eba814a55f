"""The percentage split: share over a seeded run, key stickiness, moving keys only towards Triton."""

from __future__ import annotations

import itertools
import random

import pytest

from yolo26_triton.rollout import RolloutRouter, key_bucket

DRAWS = 20_000
SHARE_TOLERANCE = 0.01
"""Absolute tolerance of a share over DRAWS requests: about 3.3 binomial standard deviations at 25 %
(sqrt(0.25 * 0.75 / 20000) = 0.0031); the runs are seeded, so the result does not vary anyway."""
KEYS = [f"camera-{number}" for number in range(DRAWS)]
PERCENTAGES = (0, 1, 5, 10, 25, 50, 75, 90, 99, 100)


def test_a_key_has_the_same_bucket_in_every_release() -> None:
    # Pinned: a change of the hash would move keys between the sides at an unchanged percentage.
    assert key_bucket("camera-1") == pytest.approx(93.81735796319333)
    assert key_bucket("camera-2") == pytest.approx(10.64435942464529)
    assert all(0 <= key_bucket(key) < 100 for key in KEYS[:1000])


@pytest.mark.parametrize("percent", [10, 25, 50, 90])
def test_unkeyed_share_over_a_seeded_run(percent: float) -> None:
    router = RolloutRouter(percent, random.Random(1234))
    share = sum(router.to_triton() for _ in range(DRAWS)) / DRAWS
    assert share == pytest.approx(percent / 100, abs=SHARE_TOLERANCE)


@pytest.mark.parametrize("percent", [10, 25, 50, 90])
def test_keyed_share_over_many_keys(percent: float) -> None:
    router = RolloutRouter(percent)
    share = sum(router.to_triton(key) for key in KEYS) / DRAWS
    assert share == pytest.approx(percent / 100, abs=SHARE_TOLERANCE)


def test_the_same_key_lands_on_the_same_side_every_time_and_everywhere() -> None:
    first = RolloutRouter(30, random.Random(1))
    second = RolloutRouter(30, random.Random(2))  # another process, another random source
    decisions = [first.to_triton(key) for key in KEYS[:500]]
    assert decisions == [first.to_triton(key) for key in KEYS[:500]]
    assert decisions == [second.to_triton(key) for key in KEYS[:500]]
    assert 0 < sum(decisions) < 500


def test_raising_the_percentage_only_moves_keys_towards_triton() -> None:
    routers = [RolloutRouter(percent) for percent in PERCENTAGES]
    on_triton = [{key for key in KEYS if router.to_triton(key)} for router in routers]
    for lower, higher in itertools.pairwise(on_triton):
        assert lower <= higher  # every key on Triton stays there
    assert on_triton[0] == set() and on_triton[-1] == set(KEYS)


def test_zero_and_hundred_are_absolute() -> None:
    never, always = RolloutRouter(0, random.Random(5)), RolloutRouter(100, random.Random(5))
    assert not any(never.to_triton() for _ in range(1000)) and not any(never.to_triton(k) for k in KEYS)
    assert all(always.to_triton() for _ in range(1000)) and all(always.to_triton(k) for k in KEYS)


def test_a_seeded_router_replays_its_decisions() -> None:
    first, second = RolloutRouter(40, random.Random(9)), RolloutRouter(40, random.Random(9))
    decisions = [first.to_triton() for _ in range(200)]
    assert decisions == [second.to_triton() for _ in range(200)]
    assert 0 < sum(decisions) < 200


@pytest.mark.parametrize("percent", [-1, 100.5, float("nan"), True])
def test_a_percentage_out_of_range_is_refused(percent: float) -> None:
    with pytest.raises(ValueError, match="rollout percent"):
        RolloutRouter(percent)
