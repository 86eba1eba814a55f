"""The retry policy of the client: transient errors only, exponential backoff with jitter, one deadline."""

from __future__ import annotations

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay
from tenacity.wait import wait_random_exponential

from yolo26_triton.client.errors import TritonError

# Backoff before retry k (1-based) is uniform in [0, min(MAX, BASE * 2**(k-1))] seconds ("full jitter"):
# concurrent clients that failed together do not come back together.
BACKOFF_BASE_S = 0.1
BACKOFF_MAX_S = 5.0


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is worth retrying: a :class:`TritonError` marked ``is_transient``."""
    return isinstance(error, TritonError) and error.is_transient


def retry_policy(
    max_retries: int,
    deadline_s: float,
    *,
    backoff_base_s: float = BACKOFF_BASE_S,
    backoff_max_s: float = BACKOFF_MAX_S,
) -> AsyncRetrying:
    """Build the retry policy for one client call.

    Use it as ``async for attempt in retry_policy(...): with attempt: ...``. A fresh policy is needed
    per call: the deadline counts from the first attempt.

    Args:
        max_retries: Retries after the first attempt; 0 disables retrying.
        deadline_s: No retry starts if its backoff would end later than this many seconds after the
            first attempt started.
        backoff_base_s: Scale of the exponential backoff.
        backoff_max_s: Cap of one backoff.

    Returns:
        A policy that re-raises the last error itself (never ``tenacity.RetryError``), and never
        retries a non-transient error such as :class:`~yolo26_triton.client.errors.InvalidInputError`.
    """
    return AsyncRetrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_attempt(max_retries + 1) | stop_before_delay(deadline_s),
        wait=wait_random_exponential(multiplier=backoff_base_s, max=backoff_max_s),
        reraise=True,
    )
