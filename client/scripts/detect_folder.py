"""Detect the objects in every JPEG file of a folder with a Triton server, in batches.

    TRITON_URL=localhost:8001 python client/scripts/detect_folder.py photos/ [--batch 16] [--json]

Each batch goes out as concurrent requests (``TritonClient.detect_batch``), which Triton's dynamic
batcher groups; a failed image is reported on its own line and the others go on. Prints one line per
image (or one JSON object per line), then a summary. Exit code 0, or 1 when any image failed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
from pathlib import Path

from yolo26_triton.client import TritonClient, TritonConfig, TritonError


async def detect_folder(files: list[Path], batch: int, as_json: bool) -> int:
    """Prints each file's outcome; returns how many failed."""
    failed = 0
    async with TritonClient(TritonConfig.from_env()) as client:
        for start in range(0, len(files), batch):
            chunk = files[start : start + batch]
            outcomes = await client.detect_batch(
                [path.read_bytes() for path in chunk], return_exceptions=True
            )
            for path, outcome in zip(chunk, outcomes, strict=True):
                if isinstance(outcome, TritonError):
                    failed += 1
                    error = f"{type(outcome).__name__}: {outcome}"
                    print(
                        json.dumps({"image": str(path), "error": error})
                        if as_json
                        else f"{path.name}: {error}"
                    )
                    continue
                classes = dict(collections.Counter(outcome.detections.class_names))
                if as_json:
                    print(
                        json.dumps(
                            {"image": str(path), "objects": len(outcome.detections), "classes": classes}
                        )
                    )
                else:
                    counts = ", ".join(f"{count} {name}" for name, count in classes.items())
                    print(f"{path.name}: {len(outcome.detections)} objects ({counts})")
    return failed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="a folder of .jpg/.jpeg files (not searched recursively)")
    parser.add_argument("--batch", type=int, default=16, help="images sent at once (default 16)")
    parser.add_argument("--json", action="store_true", help="one JSON object per image")
    args = parser.parse_args()
    if args.batch < 1:
        parser.error(f"--batch {args.batch}: expected an integer >= 1")
    if not args.folder.is_dir():
        parser.error(f"{args.folder}: not a folder")
    files = sorted(path for path in args.folder.iterdir() if path.suffix.lower() in (".jpg", ".jpeg"))
    if not files:
        parser.error(f"no .jpg or .jpeg file in {args.folder}")
    try:
        failed = asyncio.run(detect_folder(files, args.batch, args.json))
    except (TritonError, OSError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    print(f"{len(files) - failed} of {len(files)} images detected", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
