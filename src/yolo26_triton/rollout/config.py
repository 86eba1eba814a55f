"""Settings of the migration facade: one frozen dataclass, read from the environment like the client's.

The Triton side keeps its own settings (:class:`~yolo26_triton.client.TritonConfig`, the ``TRITON_*``
variables of the client, including the thresholds, which the in-process side uses too); this adds
whether Triton is used at all, how traffic is split and how the in-process detector runs::

    TRITON_ENABLED=false             every request in-process; nothing connects to Triton (the default)
    TRITON_ENABLED=true              Triton answers TRITON_ROLLOUT_PERCENT of the requests (default 100)
    TRITON_SHADOW=true               requests answered in-process are also sent to Triton, in the background
    TRITON_FALLBACK=true             Triton unavailable (or its circuit breaker open): answer in-process
    YOLO_WEIGHTS=yolo26n.pt          the in-process model (a .pt file or an Ultralytics name)

A bad value fails at start with an error naming the variable and the value, as the client's do.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from yolo26_triton.client import TritonConfig
from yolo26_triton.client.config import check_field, env_values
from yolo26_triton.contract import DEFAULT_WEIGHTS
from yolo26_triton.ops.detections import Head
from yolo26_triton.rollout.local import HEADS, LETTERBOX_MODES, LetterboxMode


def _env(name: str) -> dict[str, str]:
    return {"env": name}


@dataclass(frozen=True, slots=True)
class RolloutConfig:
    """Which side answers and how the in-process side runs.

    Attributes:
        triton: The Triton side (``TRITON_*``): where the server is, how to call it, the thresholds.
        triton_enabled: Whether Triton answers or receives anything at all (``TRITON_ENABLED``); when
            false every request is answered in-process and nothing connects to Triton.
        rollout_percent: Share of requests Triton answers, ``0..100`` (``TRITON_ROLLOUT_PERCENT``).
        shadow: Requests answered in-process are also sent to Triton in the background, and the
            two answers compared (``TRITON_SHADOW``).
        shadow_max_in_flight: Shadow requests in flight at once; more are dropped and counted
            (``TRITON_SHADOW_MAX_IN_FLIGHT``).
        fallback: Answer in-process when Triton fails for any reason but bad input, after the
            client's retries, or at once while the circuit breaker is open (``TRITON_FALLBACK``).
        breaker_failures: Failed Triton requests in a row that open the circuit breaker
            (``TRITON_BREAKER_FAILURES``); only with ``fallback``.
        breaker_reset_s: Seconds the breaker stays open before Triton gets a request again
            (``TRITON_BREAKER_RESET_S``).
        weights: The in-process model: a ``.pt`` file or an Ultralytics name (``YOLO_WEIGHTS``).
        device: PyTorch device of the in-process model (``YOLO_DEVICE``).
        letterbox: ``rect``, ``predict()``'s default (what runs today), or ``square``, 640x640 like
            the server (``YOLO_LETTERBOX``).
        head: The head the in-process model runs, as the server's build: ``classic`` or ``nms_free``
            (``YOLO_HEAD``).
    """

    triton: TritonConfig = field(default_factory=TritonConfig)
    triton_enabled: bool = field(default=False, metadata=_env("TRITON_ENABLED"))
    rollout_percent: float = field(default=100.0, metadata=_env("TRITON_ROLLOUT_PERCENT"))
    shadow: bool = field(default=False, metadata=_env("TRITON_SHADOW"))
    shadow_max_in_flight: int = field(default=4, metadata=_env("TRITON_SHADOW_MAX_IN_FLIGHT"))
    fallback: bool = field(default=False, metadata=_env("TRITON_FALLBACK"))
    breaker_failures: int = field(default=5, metadata=_env("TRITON_BREAKER_FAILURES"))
    breaker_reset_s: float = field(default=30.0, metadata=_env("TRITON_BREAKER_RESET_S"))
    weights: str = field(default=DEFAULT_WEIGHTS, metadata=_env("YOLO_WEIGHTS"))
    device: str = field(default="cpu", metadata=_env("YOLO_DEVICE"))
    letterbox: LetterboxMode = field(default="rect", metadata=_env("YOLO_LETTERBOX"))
    head: Head = field(default="classic", metadata=_env("YOLO_HEAD"))

    def __post_init__(self) -> None:
        if not isinstance(self.triton, TritonConfig):
            raise TypeError(f"triton must be a TritonConfig, got {type(self.triton).__name__}")
        check_field(
            self,
            "rollout_percent",
            _is_number(self.rollout_percent) and 0 <= self.rollout_percent <= 100,
            "expected a number in [0, 100]",
        )
        for name in ("triton_enabled", "shadow", "fallback"):
            check_field(self, name, isinstance(getattr(self, name), bool), "expected a boolean")
        for name in ("shadow_max_in_flight", "breaker_failures"):
            value = getattr(self, name)
            check_field(self, name, _is_int(value) and value >= 1, "expected an int >= 1")
        check_field(
            self,
            "breaker_reset_s",
            _is_number(self.breaker_reset_s) and 0 < self.breaker_reset_s < float("inf"),
            "expected seconds > 0",
        )
        check_field(
            self,
            "weights",
            isinstance(self.weights, str) and Path(self.weights.strip()).suffix == ".pt",
            "expected trained weights, a .pt file or a name like yolo26n.pt",
        )
        check_field(
            self, "device", isinstance(self.device, str) and bool(self.device.strip()), "expected a device"
        )
        check_field(
            self,
            "letterbox",
            self.letterbox in LETTERBOX_MODES,
            f"expected one of {', '.join(LETTERBOX_MODES)}",
        )
        check_field(self, "head", self.head in HEADS, f"expected one of {', '.join(HEADS)}")

    @property
    def triton_percent(self) -> float:
        """The share Triton answers in fact: :attr:`rollout_percent`, or 0 when Triton is disabled."""
        return self.rollout_percent if self.triton_enabled else 0.0

    @property
    def triton_reachable(self) -> bool:
        """Whether some request can go to Triton: it answers a share, or receives shadow traffic."""
        return self.triton_enabled and (self.rollout_percent > 0 or self.shadow)

    @property
    def local_reachable(self) -> bool:
        """Whether some request can be answered in-process: a share below 100 %, or fallback."""
        return self.triton_percent < 100 or (self.triton_enabled and self.fallback)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, triton: TritonConfig | None = None
    ) -> RolloutConfig:
        """Read the variables; unset ones keep their defaults.

        Args:
            environ: The variables to read; ``os.environ`` when ``None``.
            triton: The Triton side's settings; ``TritonConfig.from_env(environ)`` when ``None``.

        Raises:
            ValueError: A variable does not parse or is out of range; the message names it.
        """
        return cls(
            triton=TritonConfig.from_env(environ) if triton is None else triton,
            **env_values(cls, environ),
        )

    def replace(self, **changes: object) -> RolloutConfig:
        """A copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
