"""Is the Triton server healthy, which versions of the model are ready, and how has it been running?

    TRITON_URL=localhost:8001 python client/scripts/server_status.py [--json]

Prints the health, the state of each version of ``TRITON_MODEL`` (default ``detect_ensemble``) and
the inference statistics of it and of every model its steps call. Exit code 0 when healthy, else 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys

from yolo26_triton.client import ModelStatistics, ModelStatus, TritonClient, TritonConfig, TritonError


async def status() -> tuple[bool, ModelStatus, tuple[ModelStatistics, ...]]:
    async with TritonClient(TritonConfig.from_env()) as client:
        return (
            await client.is_healthy(),
            await client.model_status(),
            await client.statistics(client.config.model),
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="one JSON object instead of text")
    args = parser.parse_args()
    try:
        healthy, model, statistics = asyncio.run(status())
    except TritonError as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if args.json:
        report = {"healthy": healthy, "model": dataclasses.asdict(model), "statistics": []}
        report["statistics"] = [dataclasses.asdict(stats) for stats in statistics]
        print(json.dumps(report))
        return 0 if healthy else 1
    versions = ", ".join(f"v{version.version} {version.state}" for version in model.versions)
    print(f"server: {'healthy' if healthy else 'NOT healthy'}")
    print(f"model {model.name}: {'ready' if model.ready else 'NOT ready'} ({versions})")
    headers = ("MODEL", "VERSION", "REQUESTS", "FAILED", "REQUEST_MS", "QUEUE_MS", "BATCH")
    print(f"{headers[0]:<20} " + " ".join(f"{header:>10}" for header in headers[1:]))
    for stats in statistics:
        print(
            f"{stats.name:<20} {stats.version:>10} {stats.success_count:>10} {stats.fail_count:>10} "
            f"{stats.request_ms:>10.1f} {stats.queue_ms:>10.1f} {stats.average_batch_size:>10.1f}"
        )
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
