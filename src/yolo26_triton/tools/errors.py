"""The tools' errors, one tree (the command line turns them into exit codes and one ``error:`` line).

::

    ToolError            a tool could not do what was asked
     ├── ToolInputError  its inputs are unusable: no such file, no JPEG among the paths, bad weights
     └── PerfError       perf_analyzer is missing, failed, or wrote no usable report

Errors of the layers below keep their own trees (the client's ``TritonError``, the launcher's, the
exporter's, the rollout facade's); tools let them through.
"""


class ToolError(RuntimeError):
    """A tool could not do what was asked."""


class ToolInputError(ToolError):
    """The tool's inputs are unusable (the message names which and why)."""


class PerfError(ToolError):
    """perf_analyzer is missing, failed, or wrote no usable report."""
