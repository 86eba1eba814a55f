"""Detect the objects in one JPEG file with a Triton server; print them as a table or as JSON.

    TRITON_URL=localhost:8001 python client/scripts/detect_file.py photo.jpg [--json] [--conf 0.4]

The server and how to reach it come from the ``TRITON_*`` variables (``TritonConfig.from_env``).
Exit code 0, or 1 when Triton refused or failed (one ``error:`` line on stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from yolo26_triton.client import DetectionResult, TritonClient, TritonConfig, TritonError


def as_json(result: DetectionResult) -> dict[str, object]:
    """The result as plain JSON values: boxes in original-image pixels, latency in milliseconds."""
    return {
        "model_version": result.model_version,
        "latency_ms": round(result.latency_s * 1000, 1),
        "detections": [
            {
                "class_name": det.class_name,
                "class_id": det.class_id,
                "confidence": det.confidence,
                "bbox": det.bbox,
            }
            for det in result.detections
        ],
    }


async def detect(image: Path, conf: float | None, max_det: int | None) -> DetectionResult:
    async with TritonClient(TritonConfig.from_env()) as client:
        return await client.detect(image.read_bytes(), conf_threshold=conf, max_detections=max_det)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("image", type=Path, help="a JPEG file")
    parser.add_argument(
        "--conf", type=float, help="confidence threshold (default: TRITON_CONFIDENCE_THRESHOLD)"
    )
    parser.add_argument("--max-det", type=int, help="at most this many boxes (default: the server's)")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args()
    try:
        result = asyncio.run(detect(args.image, args.conf, args.max_det))
    except (TritonError, OSError) as error:
        print(f"error: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"image": str(args.image), **as_json(result)}))
        return 0
    print(f"{'CLASS':<16} {'CONF':>5}  BOX (x1, y1, x2, y2)")
    for det in result.detections:
        print(f"{det.class_name:<16} {det.confidence:5.2f}  {', '.join(f'{v:.0f}' for v in det.bbox)}")
    version, took_ms = result.model_version, result.latency_s * 1000
    print(f"{len(result.detections)} objects, detector version {version}, {took_ms:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
