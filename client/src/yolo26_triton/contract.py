"""Names both sides of the wire agree on, importable with nothing but the standard library.

The client (:mod:`yolo26_triton.client.routing`) and the builder (:mod:`yolo26_triton.export.repository`)
both name a detector version's route here, so the builder image, which holds no client libraries,
imports them without the client package.
"""

from __future__ import annotations


def route_name(entry_point: str, version: str) -> str:
    """The ensemble pinned to detector ``version`` behind ``entry_point``: ``<entry_point>_v<version>``."""
    return f"{entry_point}_v{version}"


def is_version(text: str) -> bool:
    """Whether ``text`` is a Triton version number (a positive integer without sign or spaces)."""
    return text.isdigit() and int(text) >= 1


INPUT_SIZE = 640
"""Side of the square model input: the configs' ``[3, 640, 640]``, the letterbox, the engine profile."""
MAX_BATCH_SIZE = 16
"""``max_batch_size`` of the ensemble and its composing models: the DALI pipeline's batch and the
TensorRT plan's largest batch follow it."""
