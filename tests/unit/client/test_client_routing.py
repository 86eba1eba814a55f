"""Routing of detection requests: version routes, the A/B split and its draws."""

import asyncio
import random
from collections import Counter

import pytest

from yolo26_triton.client import InvalidInputError, TritonClient, TritonConfig
from yolo26_triton.client.routing import VersionPicker, format_split, parse_split, route_name


def test_route_of_a_version_is_the_pinned_ensemble() -> None:
    assert route_name("detect_ensemble", "2") == "detect_ensemble_v2"
    assert route_name("detect_end2end", "1") == "detect_end2end_v1"


def test_split_text_round_trips() -> None:
    assert format_split(parse_split("1:90,2:10")) == "1:90,2:10"


def test_picker_draws_by_weight() -> None:
    picker = VersionPicker((("1", 90), ("2", 10)), random.Random(7))
    counts = Counter(picker.pick() for _ in range(10_000))
    assert set(counts) == {"1", "2"}
    assert 0.08 < counts["2"] / 10_000 < 0.12  # 10 % +- 6 standard deviations


def test_picker_replays_with_the_same_seed() -> None:
    split = (("1", 1), ("2", 1), ("3", 2))
    first, again = (VersionPicker(split, random.Random(3)) for _ in range(2))
    draws = [first.pick() for _ in range(50)]
    assert draws == [again.pick() for _ in range(50)]
    assert set(draws) == {"1", "2", "3"}


def test_picker_refuses_a_bad_split() -> None:
    with pytest.raises(ValueError, match="weights must be integers > 0"):
        VersionPicker((("1", 0),))


def test_client_routes_follow_the_configuration() -> None:
    assert TritonClient(TritonConfig()).routes == ("detect_ensemble",)
    assert TritonClient(TritonConfig(model_version="2")).routes == ("detect_ensemble_v2",)
    split = TritonClient(TritonConfig(ab_split=(("1", 90), ("2", 10))))
    assert split.routes == ("detect_ensemble_v1", "detect_ensemble_v2")
    end2end = TritonClient(TritonConfig(model="detect_end2end", model_version="1"))
    assert end2end.routes == ("detect_end2end_v1",)


def test_a_bad_per_call_version_is_refused_before_sending() -> None:
    async def detect() -> None:
        async with TritonClient(TritonConfig(url="127.0.0.1:1")) as client:
            await client.detect(b"\xff\xd8", model_version="latest")

    with pytest.raises(InvalidInputError, match="model_version='latest': expected a positive integer"):
        asyncio.run(detect())
