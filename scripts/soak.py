"""Soak: a bounded load on the embedded server over loopback; zero errors, flat server memory.

    python scripts/soak.py --duration 60 --concurrency 16 [--repository model_repository]

Starts the CPU profile on free 127.0.0.1 ports, keeps ``--concurrency`` gRPC requests in flight
with the sample JPEGs for ``--duration`` seconds, and prints requests, errors, throughput and the
resident memory of tritonserver plus its stub processes every few seconds. Memory first rises to
a plateau (batches of new sizes, tensors in flight; about 40 s at concurrency 16 on 2 cores), so
flatness is judged over the last third: exits 1 on any error or when memory grew there by more
than ``--max-growth-mib``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from yolo26_triton.client import TritonClient, TritonConfig, TritonError
from yolo26_triton.serving.isolation import child_processes
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import DEFAULT_REPOSITORY, ServerOptions
from yolo26_triton.serving.wheel import STUB_NAME
from yolo26_triton.tools.images import sample_images

TICK_S = 5.0


def resident_mib(server: EmbeddedServer) -> dict[str, float]:
    """Resident memory (MiB) of tritonserver and of each Python-backend stub, by model."""
    assert server.pid is not None
    processes = {"tritonserver": server.pid}
    for pid in child_processes(server.pid, command_part=STUB_NAME):
        model_file = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[1].decode()
        processes[Path(model_file).parents[1].name] = pid  # <repository>/<model>/<version>/model.py
    memory = {}
    for name, pid in processes.items():
        status = Path(f"/proc/{pid}/status").read_text()
        memory[name] = (
            next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) / 1024
        )
    return memory


async def load(
    config: TritonConfig,
    images: list[bytes],
    duration_s: float,
    concurrency: int,
    on_tick: Callable[[], None],
) -> tuple[int, int]:
    """Keeps ``concurrency`` requests in flight for ``duration_s``, calling ``on_tick`` every
    :data:`TICK_S`; returns (requests, errors)."""
    deadline = time.monotonic() + duration_s
    requests = errors = 0
    async with TritonClient(config) as client:

        async def worker(offset: int) -> None:
            nonlocal requests, errors
            index = offset
            while time.monotonic() < deadline:
                try:
                    await client.detect(images[index % len(images)])
                except TritonError as error:
                    errors += 1
                    print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
                requests += 1
                index += 1

        async def ticker() -> None:
            while time.monotonic() < deadline:
                await asyncio.to_thread(on_tick)
                await asyncio.sleep(TICK_S)
            await asyncio.to_thread(on_tick)

        await asyncio.gather(ticker(), *(worker(offset) for offset in range(concurrency)))
    return requests, errors


def main() -> int:
    """Runs the soak and prints its numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-growth-mib", type=float, default=64.0, help="allowed over the last third")
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    args = parser.parse_args()
    images = [path.read_bytes() for path in sample_images()]
    options = ServerOptions.on_free_ports(repository=args.repository)
    readings: list[dict[str, float]] = []
    with Path("/dev/null").open("w") as quiet, EmbeddedServer(options, log_file=quiet) as server:
        config = TritonConfig(url=options.grpc_url, max_concurrency=args.concurrency, max_retries=0)
        started = time.monotonic()
        requests, errors = asyncio.run(
            load(
                config, images, args.duration, args.concurrency, lambda: readings.append(resident_mib(server))
            )
        )
        elapsed = time.monotonic() - started
    totals = [sum(reading.values()) for reading in readings]
    late_growth = totals[-1] - totals[(2 * len(totals)) // 3]
    print(
        f"soak: {args.duration:.0f} s at concurrency {args.concurrency}: "
        f"{requests} requests, {errors} errors, {requests / elapsed:.1f} images/s"
    )
    print(f"server memory every {TICK_S:.0f} s (MiB): {' '.join(f'{total:.0f}' for total in totals)}")
    print(f"growth over the last third: {late_growth:+.0f} MiB (allowed {args.max_growth_mib:.0f})")
    for name in readings[0]:
        print(f"  {name}: {readings[0][name]:.0f} -> {readings[-1][name]:.0f} MiB")
    return 0 if errors == 0 and late_growth <= args.max_growth_mib else 1


if __name__ == "__main__":
    sys.exit(main())
