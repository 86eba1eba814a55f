"""``triton-detect health``, ``stats`` and ``models``: the server's state, through the client."""

from __future__ import annotations

import argparse
import asyncio

from yolo26_triton.cli.app import Command, ExitCode
from yolo26_triton.cli.arguments import connection, with_client_config
from yolo26_triton.cli.output import format_table
from yolo26_triton.client import TritonClient, TritonConfig
from yolo26_triton.client.types import ModelStatistics, ModelVersionState

STATS_HEADERS = (
    "MODEL",
    "VERSION",
    "INFERENCES",
    "EXECUTIONS",
    "AVG_BATCH",
    "SUCCESS",
    "FAIL",
    "REQUEST_MS",
    "QUEUE_MS",
    "INPUT_MS",
    "INFER_MS",
    "OUTPUT_MS",
    "BATCH_SIZES",
)


async def health(args: argparse.Namespace, config: TritonConfig) -> ExitCode:
    """Exit 0 when the server and the model are ready."""
    async with TritonClient(config) as client:
        healthy = await client.is_healthy()
    state = "healthy" if healthy else "unhealthy"
    print(f"{state}: {config.protocol}://{config.endpoint}, model {config.model}")
    return ExitCode.OK if healthy else ExitCode.FAILED


async def stats(args: argparse.Namespace, config: TritonConfig) -> ExitCode:
    """Server-side statistics per model version: the routes this configuration sends to (an A/B split
    has one per version), the models their steps call, or with --all every loaded model."""
    async with TritonClient(config) as client:
        if args.all:
            statistics = await client.statistics()
        else:
            replies = await asyncio.gather(*(client.statistics(route) for route in client.routes))
            unique = {(entry.name, entry.version): entry for reply in replies for entry in reply}
            statistics = tuple(unique.values())
    print(format_table(STATS_HEADERS, [stats_row(entry) for entry in statistics]))
    return ExitCode.OK


def stats_row(stats: ModelStatistics) -> tuple[object, ...]:
    """One row of the ``stats`` table."""
    batch_sizes = " ".join(f"{batch.batch_size}x{batch.execution_count}" for batch in stats.batch_stats)
    return (
        stats.name,
        stats.version,
        stats.inference_count,
        stats.execution_count,
        f"{stats.average_batch_size:.2f}",
        stats.success_count,
        stats.fail_count,
        f"{stats.request_ms:.2f}",
        f"{stats.queue_ms:.2f}",
        f"{stats.compute_input_ms:.2f}",
        f"{stats.compute_infer_ms:.2f}",
        f"{stats.compute_output_ms:.2f}",
        batch_sizes or "-",
    )


async def models(args: argparse.Namespace, config: TritonConfig) -> ExitCode:
    """The server's model repository: every model version and its state (needs the admin key)."""
    async with TritonClient(config) as client:
        index = await client.repository_index()
    print(format_table(("MODEL", "VERSION", "STATE", "REASON"), [model_row(entry) for entry in index]))
    return ExitCode.OK


def model_row(entry: ModelVersionState) -> tuple[object, ...]:
    """One row of the ``models`` table."""
    return (entry.name, entry.version or "-", entry.state or "-", entry.reason)


def _add_all(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--all", action="store_true", help="every loaded model, not only the model and its steps"
    )


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """The command takes the connection options only."""


COMMANDS = (
    Command(
        "health", "exit 0 when the server and model are ready", _no_arguments, with_client_config(health),
        parents=connection,
    ),
    Command(
        "stats", "inference statistics", _add_all, with_client_config(stats),
        description=stats.__doc__, parents=connection,
    ),
    Command(
        "models", "the server's model repository", _no_arguments, with_client_config(models),
        description=models.__doc__, parents=connection,
    ),
)  # fmt: skip
