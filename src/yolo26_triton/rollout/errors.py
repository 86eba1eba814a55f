"""The errors of the migration facade, beside the client's.

::

    RolloutError                base of what this layer adds; also: TRITON_FALLBACK=true without the
    │                           ``rollout`` extra (no circuit breaker library)
    ├── LocalModelError         the in-process model cannot be loaded: YOLO_WEIGHTS is no .pt, the file
    │                           is missing, the download failed, Ultralytics or PyTorch is not installed
    └── CircuitOpenError        (breaker.py) the circuit breaker refused a call to Triton; handled
                                inside the facade, which answers in-process

A bad image is the client's :class:`~yolo26_triton.client.InvalidInputError` whichever side judged it,
so that a caller catches one type; a Triton failure that is not answered in-process is the client's
:class:`~yolo26_triton.client.TritonError` subclass.
"""

from __future__ import annotations


class RolloutError(Exception):
    """Base of the errors the migration facade adds to the client's."""


class LocalModelError(RolloutError):
    """The in-process Ultralytics model cannot be loaded; nothing answers in-process without it."""
