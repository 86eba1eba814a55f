"""The errors of the pipeline's steps, and whose fault each one is.

::

    OpsError                    base of the errors ops defines
    ├── InvalidImageError       also a ValueError: one image's bytes cannot become a model input
    │                           (empty, too large, not a JPEG, truncated, corrupt, a decompression bomb)
    └── UnknownDetectorError    also a LookupError: a detector output carries an id that no
                                metadata.json of the repository names (rebuild the detector)

Besides these, validation raises a plain ``ValueError`` naming the bad value: request parameters
(:func:`yolo26_triton.contract.parameter_problem`), tensor shapes, limits. The ``model.py`` files answer
a ``ValueError`` (:class:`InvalidImageError` included) with ``INVALID_ARG``, the request's fault, and
anything else with ``INTERNAL``.
"""

from __future__ import annotations


class OpsError(Exception):
    """Base of the errors the pipeline's steps define."""


class InvalidImageError(OpsError, ValueError):
    """The bytes of one image cannot become a model input (the request's fault, not the server's)."""


class UnknownDetectorError(OpsError, LookupError):
    """A detector output carries an id that no metadata file of the repository has."""
