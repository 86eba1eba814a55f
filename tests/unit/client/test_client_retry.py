"""retry_policy: retries transient TritonErrors only, a bounded number of times, within a deadline."""

import asyncio
from collections.abc import Awaitable, Callable

import pytest
import tenacity

from yolo26_triton.client import InferenceTimeoutError, InvalidInputError, ServerError, ServerUnavailableError
from yolo26_triton.client.retry import retry_policy

FAST = {"backoff_base_s": 0.001, "backoff_max_s": 0.002}


def failing(errors: list[Exception]) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """An async call that raises ``errors`` in turn, then returns "ok"; and its attempt counter."""
    attempts = [0]

    async def call() -> str:
        attempts[0] += 1
        if attempts[0] <= len(errors):
            raise errors[attempts[0] - 1]
        return "ok"

    return call, attempts


@pytest.mark.parametrize("error_type", [ServerUnavailableError, InferenceTimeoutError])
def test_transient_errors_are_retried_until_success(error_type: type[Exception]) -> None:
    call, attempts = failing([error_type("busy"), error_type("busy")])
    assert asyncio.run(retry_policy(3, 10.0, **FAST)(call)) == "ok"
    assert attempts[0] == 3


def test_gives_up_after_max_retries_and_reraises_the_last_error() -> None:
    errors: list[Exception] = [ServerUnavailableError(f"attempt {n}") for n in range(1, 10)]
    call, attempts = failing(errors)
    with pytest.raises(ServerUnavailableError) as caught:
        asyncio.run(retry_policy(2, 10.0, **FAST)(call))
    assert attempts[0] == 3
    assert caught.value is errors[2]


def test_zero_retries_means_one_attempt() -> None:
    call, attempts = failing([ServerUnavailableError("down")])
    with pytest.raises(ServerUnavailableError):
        asyncio.run(retry_policy(0, 10.0, **FAST)(call))
    assert attempts[0] == 1


@pytest.mark.parametrize(
    "error", [InvalidInputError("bad image", status="400"), ServerError("boom"), ValueError("bug")]
)
def test_non_transient_errors_are_never_retried(error: Exception) -> None:
    call, attempts = failing([error])
    with pytest.raises(type(error)) as caught:
        asyncio.run(retry_policy(5, 10.0, **FAST)(call))
    assert caught.value is error
    assert attempts[0] == 1


class FakeClock:
    """tenacity's clock and sleep, advanced only by the backoffs it asks for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_no_retry_starts_whose_backoff_would_pass_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(tenacity, "time", clock)  # tenacity reads time.monotonic() through its module
    call, attempts = failing([ServerUnavailableError("down")] * 50)
    policy = retry_policy(40, 0.3, backoff_base_s=0.05, backoff_max_s=0.1).copy(sleep=clock.sleep)
    with pytest.raises(ServerUnavailableError):
        asyncio.run(policy(call))
    assert attempts[0] == len(clock.sleeps) + 1 > 2  # it did retry, each after one backoff
    assert clock.now < 0.3  # and every retry started before the deadline: the backoffs fit in it
    assert attempts[0] < 41  # the deadline, not max_retries, ended it


def test_policy_works_as_an_async_for_loop() -> None:
    call, attempts = failing([InferenceTimeoutError("slow")])

    async def run() -> str:
        async for attempt in retry_policy(1, 10.0, **FAST):
            with attempt:
                return await call()
        return "never reached: reraise=True raises instead"

    assert asyncio.run(run()) == "ok"
    assert attempts[0] == 2
