"""The serving layer's one error; the command line turns it into exit code 1.

::

    LaunchError     the server could not be found, started or made ready (no tritonserver binary,
                    a port taken, a model that failed to load, not ready in time)

Bad options raise a plain ``ValueError`` naming the value.
"""

from __future__ import annotations


class LaunchError(RuntimeError):
    """The server could not be found, started or made ready (the serving layer's one error)."""
