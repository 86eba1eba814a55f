"""``python -m benchmarks.quotas``: builds, runs the scenarios, prints their figures (and the report)."""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from ..machine import load_average
from . import __doc__ as package_doc
from .bench import Bench
from .report import render_report
from .scenarios import SCENARIOS


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.quotas", description=(package_doc or "").split("\n\n")[0]
    )
    parser.add_argument("--duration", type=float, default=12.0, help="seconds of load per run (12)")
    parser.add_argument(
        "--scenario", nargs="+", choices=sorted(SCENARIOS), default=list(SCENARIOS), help="default: all"
    )
    parser.add_argument("--out", type=Path, help="also write the report (e.g. benchmarks/QUOTAS.md)")
    parser.add_argument("--keep", type=Path, help="copy the runs' traces and server logs here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Builds, runs the scenarios, prints their figures (and writes the report)."""
    args = parse_args(argv)
    command = shlex.join(["python", "-m", "benchmarks.quotas", *(sys.argv[1:] if argv is None else argv)])
    started, load_before, clock = time.strftime("%Y-%m-%d %H:%M:%S"), load_average(), time.monotonic()
    lines: list[str] = []
    with tempfile.TemporaryDirectory(prefix="yolo26-quotas-") as workdir:
        bench = Bench(Path(workdir), args.duration)
        print("building yolo26 (classic) and yolo26_end2end (nms_free) from yolo26n.yaml", flush=True)
        bench.build()
        for name in args.scenario:
            printed = SCENARIOS[name](bench)
            print("\n".join(printed), flush=True)
            lines += printed
        if args.keep:
            shutil.copytree(workdir, args.keep, dirs_exist_ok=True, ignore=shutil.ignore_patterns("built"))
    if args.out:
        context = {
            "load_before": load_before,
            "load_after": load_average(),
            "started": started,
            "elapsed": f"{time.monotonic() - clock:.0f}",
        }
        args.out.write_text(render_report(command, lines, context))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
