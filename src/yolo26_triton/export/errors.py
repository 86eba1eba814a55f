"""The export layer's errors, one tree (the command line turns it into exit code 1 and one ``error:`` line).

::

    ExportError      base of what the builder and the engine step raise
     ├── BuildError  the model repository cannot be built from what was asked for (weights, names,
     │               versions, a repository folder that is not one)
     └── EngineError the TensorRT plan cannot be built (no TensorRT, a failed build, INT8 parity)

Bad arguments that the caller can fix before calling raise a plain ``ValueError`` naming the value.
"""

from __future__ import annotations


class ExportError(RuntimeError):
    """Base of the export layer's errors."""


class BuildError(ExportError):
    """The model cannot be built from what was asked for."""


class EngineError(ExportError):
    """The TensorRT plan cannot be built."""
