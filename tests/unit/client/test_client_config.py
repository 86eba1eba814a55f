"""TritonConfig: defaults, every TRITON_* variable, and every kind of bad value."""

import dataclasses

import pytest

from yolo26_triton.client import TritonConfig

DEFAULTS = {
    "url": "localhost:8001",
    "http_url": "localhost:8000",
    "protocol": "grpc",
    "timeout_s": 60.0,
    "model": "detect_ensemble",
    "max_retries": 3,
    "confidence_threshold": 0.5,
    "iou_threshold": 0.7,
    "max_concurrency": 8,
    "model_version": None,
    "ab_split": None,
}


def test_defaults_when_no_variable_is_set() -> None:
    config = TritonConfig.from_env({})
    assert {name: getattr(config, name) for name in DEFAULTS} == DEFAULTS
    assert config == TritonConfig()


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("TRITON_URL", "triton:9001", "url", "triton:9001"),
        ("TRITON_HTTP_URL", "triton:9000", "http_url", "triton:9000"),
        ("TRITON_PROTOCOL", "http", "protocol", "http"),
        ("TRITON_PROTOCOL", "grpc", "protocol", "grpc"),
        ("TRITON_TIMEOUT", "2.5", "timeout_s", 2.5),
        ("TRITON_TIMEOUT", "30", "timeout_s", 30.0),
        ("TRITON_MODEL", "yolo26", "model", "yolo26"),
        ("TRITON_MAX_RETRIES", "0", "max_retries", 0),
        ("TRITON_MAX_RETRIES", "7", "max_retries", 7),
        ("TRITON_CONFIDENCE_THRESHOLD", "0", "confidence_threshold", 0.0),
        ("TRITON_CONFIDENCE_THRESHOLD", "1", "confidence_threshold", 1.0),
        ("TRITON_CONFIDENCE_THRESHOLD", "0.25", "confidence_threshold", 0.25),
        ("TRITON_IOU_THRESHOLD", "0.45", "iou_threshold", 0.45),
        ("TRITON_MAX_CONCURRENCY", "32", "max_concurrency", 32),
        ("TRITON_MODEL_VERSION", "2", "model_version", "2"),
        ("TRITON_AB_SPLIT", "1:90,2:10", "ab_split", (("1", 90), ("2", 10))),
        ("TRITON_AB_SPLIT", " 1 : 1 , 3 : 2 ", "ab_split", (("1", 1), ("3", 2))),
        ("TRITON_AB_SPLIT", "2:100", "ab_split", (("2", 100),)),
    ],
)
def test_each_variable_is_read(variable: str, raw: str, field: str, expected: object) -> None:
    config = TritonConfig.from_env({variable: raw})
    assert getattr(config, field) == expected
    untouched = {name: value for name, value in DEFAULTS.items() if name != field}
    assert {name: getattr(config, name) for name in untouched} == untouched


@pytest.mark.parametrize(
    ("variable", "raw", "expectation"),
    [
        ("TRITON_URL", "grpc://localhost:8001", "expected host:port without a scheme"),
        ("TRITON_HTTP_URL", "http://localhost:8000", "expected host:port without a scheme"),
        ("TRITON_PROTOCOL", "udp", "expected one of grpc, http"),
        ("TRITON_PROTOCOL", "GRPC", "expected one of grpc, http"),
        ("TRITON_TIMEOUT", "abc", "expected a number"),
        ("TRITON_TIMEOUT", "0", "expected seconds > 0"),
        ("TRITON_TIMEOUT", "-1", "expected seconds > 0"),
        ("TRITON_TIMEOUT", "inf", "expected seconds > 0"),
        ("TRITON_TIMEOUT", "nan", "expected seconds > 0"),
        ("TRITON_MAX_RETRIES", "-1", "expected an int >= 0"),
        ("TRITON_MAX_RETRIES", "1.5", "expected an integer"),
        ("TRITON_MAX_RETRIES", "three", "expected an integer"),
        ("TRITON_CONFIDENCE_THRESHOLD", "1.5", "expected a number in [0, 1]"),
        ("TRITON_CONFIDENCE_THRESHOLD", "-0.1", "expected a number in [0, 1]"),
        ("TRITON_CONFIDENCE_THRESHOLD", "high", "expected a number"),
        ("TRITON_IOU_THRESHOLD", "2", "expected a number in [0, 1]"),
        ("TRITON_MAX_CONCURRENCY", "0", "expected an int >= 1"),
        ("TRITON_MAX_CONCURRENCY", "many", "expected an integer"),
        ("TRITON_MODEL_VERSION", "0", "expected a positive integer"),
        ("TRITON_MODEL_VERSION", "latest", "expected a positive integer"),
        ("TRITON_AB_SPLIT", "1=90", "is not version:weight"),
        ("TRITON_AB_SPLIT", "1:ninety", "is not version:weight"),
        ("TRITON_AB_SPLIT", "1:90,", "is not version:weight"),
        ("TRITON_AB_SPLIT", "1:90,1:10", "each version may appear once"),
        ("TRITON_AB_SPLIT", "1:90,2:0", "weights must be integers > 0"),
        ("TRITON_AB_SPLIT", "1:90,2:-5", "weights must be integers > 0"),
        ("TRITON_AB_SPLIT", "v1:90", "versions must be positive integers"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(variable: str, raw: str, expectation: str) -> None:
    with pytest.raises(ValueError) as caught:
        TritonConfig.from_env({variable: raw})
    message = str(caught.value)
    assert message.startswith(f"{variable}=")
    assert expectation in message


def test_protocol_message_is_exact() -> None:
    with pytest.raises(ValueError) as caught:
        TritonConfig.from_env({"TRITON_PROTOCOL": "udp"})
    assert str(caught.value) == "TRITON_PROTOCOL=udp: expected one of grpc, http"


def test_empty_or_blank_variable_counts_as_unset() -> None:
    config = TritonConfig.from_env({"TRITON_URL": "", "TRITON_TIMEOUT": "  ", "TRITON_MODEL_VERSION": ""})
    assert (config.url, config.timeout_s, config.model_version) == ("localhost:8001", 60.0, None)


def test_unrelated_variables_are_ignored() -> None:
    assert TritonConfig.from_env({"TRITON_SOMETHING": "x", "PATH": "/bin"}) == TritonConfig()


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRITON_MODEL", "yolo26")
    assert TritonConfig.from_env().model == "yolo26"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": "udp"}, "TRITON_PROTOCOL=udp: expected one of grpc, http"),
        ({"timeout_s": 0}, "TRITON_TIMEOUT=0: expected seconds > 0"),
        ({"max_retries": True}, "TRITON_MAX_RETRIES=True: expected an int >= 0"),
        ({"max_concurrency": 2.0}, "TRITON_MAX_CONCURRENCY=2.0: expected an int >= 1"),
        ({"confidence_threshold": "0.5"}, "TRITON_CONFIDENCE_THRESHOLD=0.5: expected a number in [0, 1]"),
        ({"model": " "}, "TRITON_MODEL= : expected a name"),
        ({"url": ""}, "TRITON_URL=: expected host:port without a scheme"),
    ],
)
def test_direct_construction_is_validated_the_same_way(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        TritonConfig(**kwargs)  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_replace_is_validated() -> None:
    with pytest.raises(ValueError, match="TRITON_IOU_THRESHOLD"):
        dataclasses.replace(TritonConfig(), iou_threshold=1.1)


def test_endpoint_follows_the_protocol() -> None:
    environ = {"TRITON_URL": "g:1", "TRITON_HTTP_URL": "h:2"}
    assert TritonConfig.from_env(environ).endpoint == "g:1"
    assert TritonConfig.from_env({**environ, "TRITON_PROTOCOL": "http"}).endpoint == "h:2"


def test_is_frozen() -> None:
    config = TritonConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.timeout_s = 1.0  # type: ignore[misc]


def test_admin_key_is_read_and_never_shown() -> None:
    config = TritonConfig.from_env({"TRITON_ADMIN_KEY": "s3cret"})
    assert config.admin_key == "s3cret"
    assert "s3cret" not in repr(config)
    assert TritonConfig.from_env({}).admin_key is None


def test_a_version_and_a_split_together_are_refused() -> None:
    with pytest.raises(ValueError, match=r"TRITON_MODEL_VERSION=2 and TRITON_AB_SPLIT=1:90,2:10: set one"):
        TritonConfig.from_env({"TRITON_MODEL_VERSION": "2", "TRITON_AB_SPLIT": "1:90,2:10"})
