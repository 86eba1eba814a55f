"""Client settings: one frozen dataclass, read from ``TRITON_*`` environment variables.

Every field names the environment variable it comes from (``field(metadata={"env": ...})``), so a bad
value is reported the same way whether it came from the environment or from code::

    ValueError: TRITON_PROTOCOL=udp: expected one of grpc, http

An empty or blank variable counts as unset (``TRITON_URL=`` in a compose file keeps the default).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar, cast, get_args

from yolo26_triton.client.routing import VersionWeights, format_split, is_version, parse_split, split_problem
from yolo26_triton.contract import (
    CONF_THRESHOLD,
    DEFAULT_IOU_THRESHOLD,
    ENTRY_POINT,
    IOU_THRESHOLD,
    parameter_problem,
)

ProtocolName = Literal["grpc", "http"]
PROTOCOLS: tuple[ProtocolName, ...] = get_args(ProtocolName)

_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off"})

_T = TypeVar("_T")


def _env(name: str) -> dict[str, str]:
    return {"env": name}


@dataclass(frozen=True, slots=True)
class TritonConfig:
    """Where the Triton server is and how the client talks to it.

    Attributes:
        url: gRPC ``host:port`` (``TRITON_URL``).
        http_url: HTTP ``host:port`` (``TRITON_HTTP_URL``).
        protocol: ``"grpc"`` or ``"http"`` (``TRITON_PROTOCOL``).
        timeout_s: Seconds one call may take, retries included (``TRITON_TIMEOUT``).
        model: The Triton model that takes JPEG bytes (``TRITON_MODEL``): an entry point such as
            ``detect_ensemble``, which serves the latest (or pinned) detector version.
        model_version: Send every request to this detector version's route,
            ``<model>_v<version>`` (``TRITON_MODEL_VERSION``); ``None``: the entry point itself.
        ab_split: Split requests between detector versions by weight, e.g. ``(("1", 90), ("2", 10))``
            from ``TRITON_AB_SPLIT="1:90,2:10"``; exclusive with ``model_version``.
        max_retries: Retries after the first attempt, for transient errors only (``TRITON_MAX_RETRIES``).
        confidence_threshold: Sent as the ``conf_threshold`` request parameter; the server applies it
            (``TRITON_CONFIDENCE_THRESHOLD``). 0.5 by default: this client's choice, above the server's
            own default for requests that send none (``contract.DEFAULT_CONF_THRESHOLD``, 0.25).
        iou_threshold: Sent as the ``iou_threshold`` request parameter (``TRITON_IOU_THRESHOLD``).
        max_concurrency: Requests in flight at once in ``detect_batch`` (``TRITON_MAX_CONCURRENCY``).
        admin_key: Key for the server's restricted APIs (model repository index), sent as a header
            (``TRITON_ADMIN_KEY``); never shown in ``repr``.
    """

    url: str = field(default="localhost:8001", metadata=_env("TRITON_URL"))
    http_url: str = field(default="localhost:8000", metadata=_env("TRITON_HTTP_URL"))
    protocol: ProtocolName = field(default="grpc", metadata=_env("TRITON_PROTOCOL"))
    timeout_s: float = field(default=60.0, metadata=_env("TRITON_TIMEOUT"))
    model: str = field(default=ENTRY_POINT, metadata=_env("TRITON_MODEL"))
    model_version: str | None = field(default=None, metadata=_env("TRITON_MODEL_VERSION"))
    ab_split: VersionWeights | None = field(default=None, metadata=_env("TRITON_AB_SPLIT"))
    max_retries: int = field(default=3, metadata=_env("TRITON_MAX_RETRIES"))
    confidence_threshold: float = field(default=0.5, metadata=_env("TRITON_CONFIDENCE_THRESHOLD"))
    iou_threshold: float = field(default=DEFAULT_IOU_THRESHOLD, metadata=_env("TRITON_IOU_THRESHOLD"))
    max_concurrency: int = field(default=8, metadata=_env("TRITON_MAX_CONCURRENCY"))
    admin_key: str | None = field(default=None, repr=False, metadata=_env("TRITON_ADMIN_KEY"))

    def __post_init__(self) -> None:
        for name in ("url", "http_url"):
            address = getattr(self, name)
            _check(
                self,
                name,
                isinstance(address, str) and bool(address.strip()) and "://" not in address,
                "expected host:port without a scheme",
            )
        _check(self, "protocol", self.protocol in PROTOCOLS, f"expected one of {', '.join(PROTOCOLS)}")
        _check(self, "timeout_s", _is_real(self.timeout_s) and self.timeout_s > 0, "expected seconds > 0")
        _check(self, "model", isinstance(self.model, str) and bool(self.model.strip()), "expected a name")
        _check(
            self,
            "model_version",
            self.model_version is None
            or (isinstance(self.model_version, str) and is_version(self.model_version)),
            "expected a positive integer",
        )
        if self.ab_split is not None:
            object.__setattr__(self, "ab_split", tuple(tuple(pair) for pair in self.ab_split))
            problem = split_problem(self.ab_split)
            if problem:
                raise ValueError(f"{env_variable('ab_split')}={format_split(self.ab_split)}: {problem}")
            if self.model_version is not None:
                raise ValueError(
                    f"{env_variable('model_version')}={self.model_version} and "
                    f"{env_variable('ab_split')}={format_split(self.ab_split)}: set one of them"
                )
        _check(
            self, "max_retries", _is_int(self.max_retries) and self.max_retries >= 0, "expected an int >= 0"
        )
        for name, parameter in (("confidence_threshold", CONF_THRESHOLD), ("iou_threshold", IOU_THRESHOLD)):
            problem = parameter_problem(parameter, getattr(self, name))
            _check(self, name, problem is None, problem or "")
        _check(
            self,
            "max_concurrency",
            _is_int(self.max_concurrency) and self.max_concurrency >= 1,
            "expected an int >= 1",
        )
        _check(
            self,
            "admin_key",
            self.admin_key is None or (isinstance(self.admin_key, str) and bool(self.admin_key.strip())),
            "expected a non-empty key",
        )

    @property
    def endpoint(self) -> str:
        """The ``host:port`` of the chosen protocol: :attr:`url` for gRPC, :attr:`http_url` for HTTP."""
        return self.url if self.protocol == "grpc" else self.http_url

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TritonConfig:
        """Read the ``TRITON_*`` variables; unset ones keep their defaults.

        Args:
            environ: The variables to read; ``os.environ`` when ``None``.

        Raises:
            ValueError: A variable does not parse or is out of range; the message names it.
        """
        return cls(**env_values(cls, environ))


def env_values(config_class: type[Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The fields of a settings dataclass whose variables are set, parsed by field type.

    Works for any dataclass that names its variables as :class:`TritonConfig` does
    (``field(metadata={"env": ...})``); fields without a variable are left out, as are unset ones.

    Args:
        config_class: The dataclass.
        environ: The variables to read; ``os.environ`` when ``None``.

    Raises:
        ValueError: A variable does not parse; the message names it.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for config_field in dataclasses.fields(config_class):
        variable = config_field.metadata.get("env")
        raw = environ.get(variable, "").strip() if variable else ""
        if variable and raw:
            parse = _PARSERS_BY_TYPE.get(str(config_field.type), _parse_str)
            values[config_field.name] = parse(variable, raw)
    return values


def env_variable(name: str, config_class: type[Any] = TritonConfig) -> str:
    """The environment variable behind the field ``name`` of ``config_class`` (a settings dataclass
    that names its variables as :class:`TritonConfig` does)."""
    return cast(str, config_class.__dataclass_fields__[name].metadata["env"])


def check_field(config: Any, name: str, ok: bool, expectation: str) -> None:
    """Unless ``ok``, raise ``ValueError("VARIABLE=value: expectation")`` for the field ``name``."""
    if not ok:
        variable = type(config).__dataclass_fields__[name].metadata["env"]
        raise ValueError(f"{variable}={getattr(config, name)}: {expectation}")


_check = check_field


def _is_real(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_str(_variable: str, raw: str) -> str:
    return raw


def _parse_bool(variable: str, raw: str) -> bool:
    word = raw.lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"{variable}={raw}: expected one of {', '.join(sorted(_TRUE_WORDS | _FALSE_WORDS))}")


def _parse_number(variable: str, raw: str, kind: Callable[[str], _T], what: str) -> _T:
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{variable}={raw}: expected {what}") from None


def _parse_int(variable: str, raw: str) -> int:
    return _parse_number(variable, raw, int, "an integer")


def _parse_float(variable: str, raw: str) -> float:
    return _parse_number(variable, raw, float, "a number")


def _parse_split(variable: str, raw: str) -> VersionWeights:
    try:
        return parse_split(raw)
    except ValueError as error:
        raise ValueError(f"{variable}={raw}: {error}") from None


# Field annotations are strings here (``from __future__ import annotations``).
_PARSERS_BY_TYPE: dict[str, Callable[[str, str], Any]] = {
    "bool": _parse_bool,
    "int": _parse_int,
    "float": _parse_float,
    "VersionWeights | None": _parse_split,
}
