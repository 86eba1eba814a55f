"""The ``triton-detect`` application: one registry of commands, one set of exit codes, one error report.

Every command module (``build``, ``serve``, ``detect``, ``status``, ``compare``, ``perf``, ``demo``)
defines ``COMMANDS``, a tuple of :class:`Command`: a name, its help, how it adds its arguments and
the function that runs it and returns an :class:`ExitCode`. :data:`COMMAND_MODULES` says which module
holds which command, so that running one imports only its module: ``build``, ``pin`` and ``serve``
import neither the client nor its libraries (tritonclient, aiohttp, grpc), which the builder image
does not hold (``tests/unit/test_container_imports.py``).

A command reports failure by raising; :func:`main` turns each family of errors into one ``error:``
line on stderr and its exit code (:func:`exit_code_for`, :data:`ERROR_CODES`). This layer's own error
is one class::

    UsageError      bad arguments, settings or input files found after parsing (exit 2)

Each layer below keeps one tree, drawn in its module: the client's ``TritonError``
(``client/errors.py``), ``ops/errors.py``, the serving layer's ``LaunchError`` (``serving/errors.py``),
``export/errors.py``, ``rollout/errors.py`` and ``tools/errors.py``.
"""

from __future__ import annotations

import argparse
import enum
import importlib
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

log = logging.getLogger("triton-detect")


class ExitCode(enum.IntEnum):
    """The exit codes of every command."""

    OK = 0
    FAILED = 1
    """A request, a check or a build failed."""
    USAGE = 2
    """Bad arguments, settings or input files."""
    UNHEALTHY = 3
    """``serve``: a Python-backend stub died (a supervisor should restart the server)."""


class UsageError(Exception):
    """Bad arguments, settings or input files, found after parsing (exit :attr:`ExitCode.USAGE`)."""


@dataclass(frozen=True)
class Command:
    """One ``triton-detect`` subcommand.

    Attributes:
        name: What the user types.
        help: One line for the command list.
        add_arguments: Adds the command's arguments to its parser.
        run: Runs it with the parsed arguments; returns the exit code or raises.
        description: The ``--help`` text (defaults to ``help``).
        parents: Parent parsers whose options the command takes too.
        parser_options: More keyword arguments of ``add_parser`` (e.g. ``prefix_chars``).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], ExitCode | int]
    description: str | None = None
    parents: Callable[[], Sequence[argparse.ArgumentParser]] = tuple
    parser_options: dict[str, object] = field(default_factory=dict)


COMMAND_MODULES = {
    "build": "yolo26_triton.cli.build",
    "pin": "yolo26_triton.cli.build",
    "serve": "yolo26_triton.cli.serve",
    "demo": "yolo26_triton.cli.demo",
    "detect": "yolo26_triton.cli.detect",
    "health": "yolo26_triton.cli.status",
    "stats": "yolo26_triton.cli.status",
    "models": "yolo26_triton.cli.status",
    "compare": "yolo26_triton.cli.compare",
    "perf": "yolo26_triton.cli.perf",
    "perf-analyzer": "yolo26_triton.cli.perf",
}
"""Command name -> the module whose ``COMMANDS`` defines it, in the order of the help."""


def parser(names: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The command line with the commands ``names`` (all when None), from their modules."""
    top = argparse.ArgumentParser(
        prog="triton-detect",
        description="Build the YOLO26 model repository, serve it on Triton, and talk to it.",
    )
    subparsers = top.add_subparsers(required=True, metavar="COMMAND")
    wanted = list(COMMAND_MODULES) if names is None else list(names)
    for module_name in dict.fromkeys(COMMAND_MODULES[name] for name in wanted):
        for command in importlib.import_module(module_name).COMMANDS:
            if command.name in wanted:
                _add(subparsers, command)
    return top


def _add(subparsers: argparse._SubParsersAction[argparse.ArgumentParser], command: Command) -> None:
    sub = subparsers.add_parser(
        command.name,
        help=command.help,
        description=command.description or command.help,
        parents=list(command.parents()),
        **command.parser_options,  # type: ignore[arg-type]
    )
    command.add_arguments(sub)
    sub.set_defaults(run=command.run)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``triton-detect`` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    name = next((argument for argument in arguments if not argument.startswith("-")), None)
    args = parser([name] if name in COMMAND_MODULES else None).parse_args(arguments)
    logging.basicConfig(level=logging.INFO, format="triton-detect: %(message)s")
    try:
        return int(args.run(args))
    except Exception as error:
        code = exit_code_for(error)
        if code is None:
            raise
        print(f"error: {describe(error)}", file=sys.stderr)
        return code


ERROR_CODES = (
    ("yolo26_triton.cli.app", "UsageError", ExitCode.USAGE),
    ("yolo26_triton.tools.errors", "ToolInputError", ExitCode.USAGE),
    ("yolo26_triton.rollout.errors", "LocalModelError", ExitCode.USAGE),
    ("yolo26_triton.tools.errors", "ToolError", ExitCode.FAILED),
    ("yolo26_triton.client.errors", "TritonError", ExitCode.FAILED),
    ("yolo26_triton.serving.errors", "LaunchError", ExitCode.FAILED),
    ("yolo26_triton.export.errors", "ExportError", ExitCode.FAILED),
)
"""The one table of errors to exit codes: (module, class, code), the first match wins. A module that
was never imported raised nothing, so the lookup imports nothing (``build`` never loads the client)."""
NAMED_ERRORS = ("yolo26_triton.client.errors", "TritonError")
"""Errors whose ``error:`` line starts with their class name (``ServerUnavailableError: ...``)."""


def exit_code_for(error: BaseException) -> ExitCode | None:
    """The exit code of an error a command let through; None for a bug (it propagates)."""
    return next((code for module, name, code in ERROR_CODES if _is(error, module, name)), None)


def describe(error: BaseException) -> str:
    """The ``error:`` line's text."""
    return f"{type(error).__name__}: {error}" if _is(error, *NAMED_ERRORS) else str(error)


def _is(error: BaseException, module_name: str, class_name: str) -> bool:
    module = sys.modules.get(module_name)
    return module is not None and isinstance(error, getattr(module, class_name))
