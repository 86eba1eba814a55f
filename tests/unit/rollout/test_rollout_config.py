"""The facade's settings: defaults, variables, validation naming the variable, who can be reached."""

from __future__ import annotations

import pytest

from yolo26_triton.client import TritonConfig
from yolo26_triton.rollout import RolloutConfig


def test_defaults_answer_in_process_with_the_default_weights() -> None:
    config = RolloutConfig.from_env({})
    assert config.triton == TritonConfig()
    assert not config.triton_enabled  # TRITON_ENABLED defaults to false, as in the variable table
    assert (config.rollout_percent, config.shadow, config.fallback) == (100.0, False, False)
    assert (config.weights, config.device, config.letterbox, config.head) == (
        "yolo26n.pt",
        "cpu",
        "rect",
        "classic",
    )
    assert (config.shadow_max_in_flight, config.breaker_failures, config.breaker_reset_s) == (4, 5, 30.0)
    assert (config.triton_percent, config.triton_reachable, config.local_reachable) == (0.0, False, True)


def test_every_variable_is_read() -> None:
    config = RolloutConfig.from_env(
        {
            "TRITON_ENABLED": "true",
            "TRITON_URL": "triton:8001",
            "TRITON_ROLLOUT_PERCENT": "12.5",
            "TRITON_SHADOW": "yes",
            "TRITON_SHADOW_MAX_IN_FLIGHT": "2",
            "TRITON_FALLBACK": "1",
            "TRITON_BREAKER_FAILURES": "3",
            "TRITON_BREAKER_RESET_S": "0.5",
            "YOLO_WEIGHTS": " /models/best.pt ",
            "YOLO_DEVICE": "cuda:0",
            "YOLO_LETTERBOX": "square",
            "YOLO_HEAD": "nms_free",
        }
    )
    assert config.triton_enabled and config.triton.url == "triton:8001"
    assert (config.rollout_percent, config.shadow, config.shadow_max_in_flight) == (12.5, True, 2)
    assert (config.fallback, config.breaker_failures, config.breaker_reset_s) == (True, 3, 0.5)
    assert (config.weights, config.device) == ("/models/best.pt", "cuda:0")
    assert (config.letterbox, config.head) == ("square", "nms_free")


def test_a_given_triton_config_is_kept() -> None:
    triton = TritonConfig(url="elsewhere:1")
    config = RolloutConfig.from_env({"TRITON_ENABLED": "true", "TRITON_URL": "ignored:2"}, triton=triton)
    assert config.triton is triton and config.triton_enabled


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(word, True) for word in ("1", "true", "TRUE", "Yes", "on", " on ")]
    + [(word, False) for word in ("0", "false", "False", "no", "OFF", "")],
)
def test_boolean_words(raw: str, expected: bool) -> None:
    assert RolloutConfig.from_env({"TRITON_ENABLED": raw}).triton_enabled is expected


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("TRITON_ROLLOUT_PERCENT", "101", "TRITON_ROLLOUT_PERCENT=101.0: expected a number in [0, 100]"),
        ("TRITON_ROLLOUT_PERCENT", "-1", "TRITON_ROLLOUT_PERCENT=-1.0: expected a number in [0, 100]"),
        ("TRITON_ROLLOUT_PERCENT", "nan", "TRITON_ROLLOUT_PERCENT=nan: expected a number in [0, 100]"),
        ("TRITON_ROLLOUT_PERCENT", "half", "TRITON_ROLLOUT_PERCENT=half: expected a number"),
        ("TRITON_SHADOW", "maybe", "TRITON_SHADOW=maybe: expected one of"),
        ("TRITON_FALLBACK", "2", "TRITON_FALLBACK=2: expected one of"),
        ("TRITON_SHADOW_MAX_IN_FLIGHT", "0", "TRITON_SHADOW_MAX_IN_FLIGHT=0: expected an int >= 1"),
        ("TRITON_BREAKER_FAILURES", "1.5", "TRITON_BREAKER_FAILURES=1.5: expected an integer"),
        ("TRITON_BREAKER_RESET_S", "0", "TRITON_BREAKER_RESET_S=0.0: expected seconds > 0"),
        ("TRITON_BREAKER_RESET_S", "inf", "TRITON_BREAKER_RESET_S=inf: expected seconds > 0"),
        ("YOLO_WEIGHTS", "yolo26n.yaml", "YOLO_WEIGHTS=yolo26n.yaml: expected trained weights, a .pt"),
        ("YOLO_LETTERBOX", "stretch", "YOLO_LETTERBOX=stretch: expected one of rect, square"),
        ("YOLO_HEAD", "e2e", "YOLO_HEAD=e2e: expected one of classic, nms_free"),
        ("TRITON_ENABLED", "perhaps", "TRITON_ENABLED=perhaps: expected one of"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, raw: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        RolloutConfig.from_env({variable: raw})
    assert str(raised.value).startswith(message)


def test_a_blank_device_is_refused_from_code() -> None:
    with pytest.raises(ValueError, match="YOLO_DEVICE= : expected a device"):
        RolloutConfig(device=" ")


@pytest.mark.parametrize(
    ("variables", "triton_reachable", "local_reachable"),
    [
        ({"TRITON_ENABLED": "false", "TRITON_SHADOW": "true", "TRITON_FALLBACK": "true"}, False, True),
        ({"TRITON_ENABLED": "true"}, True, False),  # 100 %: Ultralytics never loads
        ({"TRITON_ENABLED": "true", "TRITON_FALLBACK": "true"}, True, True),
        ({"TRITON_ENABLED": "true", "TRITON_ROLLOUT_PERCENT": "0"}, False, True),
        ({"TRITON_ENABLED": "true", "TRITON_ROLLOUT_PERCENT": "0", "TRITON_SHADOW": "true"}, True, True),
        ({"TRITON_ENABLED": "true", "TRITON_ROLLOUT_PERCENT": "30"}, True, True),
    ],
)
def test_which_sides_a_request_can_reach(
    variables: dict[str, str], triton_reachable: bool, local_reachable: bool
) -> None:
    config = RolloutConfig.from_env(variables)
    assert (config.triton_reachable, config.local_reachable) == (triton_reachable, local_reachable)
