"""Which side answers a request: Triton for ``TRITON_ROLLOUT_PERCENT`` of them, in-process for the rest.

A request with a routing key (a camera, a user, a tenant) goes to Triton when the key's bucket, a
stable position in ``[0, 100)`` derived from a hash of the key, lies below the percentage. So

- the same key always lands on the same side at a given percentage (in every process and on every
  machine: the hash is BLAKE2b, not Python's salted ``hash``), and
- raising the percentage only moves keys towards Triton: the keys below 10 are also below 20.

A request without a key draws its position from a random source (seed one to replay a sequence), so
that the share of unkeyed requests sent to Triton tends to the percentage.
"""

from __future__ import annotations

import hashlib
import random

PERCENT_SCALE = 100.0
_HASH_BYTES = 8
_HASH_PERSON = b"yolo26-rollout"  # BLAKE2b personalization: buckets independent of other uses of the key


def key_bucket(key: str) -> float:
    """The stable position of ``key`` in ``[0, 100)``."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=_HASH_BYTES, person=_HASH_PERSON).digest()
    position: float = int.from_bytes(digest, "big") / 2 ** (8 * _HASH_BYTES) * PERCENT_SCALE
    return position


class RolloutRouter:
    """Decides per request whether Triton answers.

    Args:
        percent: The share of requests for Triton, in ``[0, 100]``.
        rng: The random source of unkeyed requests; seed one for a reproducible sequence.

    Raises:
        ValueError: ``percent`` is out of range.
    """

    def __init__(self, percent: float, rng: random.Random | None = None) -> None:
        if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
            raise ValueError(f"rollout percent {percent!r}: expected a number in [0, 100]")
        self.percent = float(percent)
        self._rng = rng or random.Random()

    def to_triton(self, key: str | None = None) -> bool:
        """Whether Triton answers: the key's bucket (or a random draw) lies below the percentage."""
        position = self._rng.random() * PERCENT_SCALE if key is None else key_bucket(key)
        return position < self.percent
