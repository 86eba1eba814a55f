"""What a lent GPU machine can measure of the GPU profile: torch (CUDA) and, if there, torchvision.

The machines lent for a few minutes have a GPU, torch and CuPy, and no TensorRT, DALI, Docker or
package registry (docs/performance.md). The GPU profile itself (DALI and TensorRT backends) cannot
run there; these parts of it can be measured, each with torch standing in:

* ``transfer``: one batch of letterboxed images from host memory to the GPU and normalized there,
  as UINT8 (what preprocess now hands the detector, divided by 255 on the device) against FP32
  (what it handed before): the bytes the UINT8 input saves, in milliseconds per image;
* ``detector``: the exported detector (TorchScript, FP16 where CUDA) at batch 1 to 32: images/s of
  the network alone, an upper bound for the ``yolo26`` step short of TensorRT's own optimizations;
* ``decode``: nvJPEG through ``torchvision.io.decode_jpeg(device="cuda")`` on the sample JPEGs, as
  the DALI ``mixed`` decoder would do it.

It imports only torch, numpy and (optionally) torchvision: nothing of this package, whose server
extras are not on those machines. ``--device cpu --quick`` runs every part on the CPU in seconds
(``benchmarks/gpu_run.sh --dry-run``, and the test that keeps this file alive).

    python -m benchmarks.gpu_device --device cuda --model benchmarks/gpu-input/yolo26n.torchscript \
        --images benchmarks/gpu-input/*.jpg --out benchmarks/gpu-results
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

SIZE = 640
BATCHES = (1, 8, 16, 32)


def timed(work: Callable[[], object], *, repeats: int, synchronize: Callable[[], None]) -> float:
    """Median milliseconds of ``work()`` over ``repeats`` runs, after one unmeasured run.

    The project's percentile at 50 (``yolo26_triton.tools.statistics``: between the middle two of an
    even count), from the standard library: this file imports nothing of the package."""
    work()
    synchronize()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        synchronize()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def measure_transfer(torch: Any, device: str, batches: Sequence[int], repeats: int) -> list[dict[str, Any]]:
    """Host -> device copy of letterboxed batches, then normalized to float on the device."""
    synchronize = _synchronizer(torch, device)
    rows = []
    for batch in batches:
        levels = torch.randint(0, 256, (batch, 3, SIZE, SIZE), dtype=torch.uint8)
        floats = levels.float() / 255
        if device == "cuda":
            levels, floats = levels.pin_memory(), floats.pin_memory()
        as_uint8 = timed(
            partial(_upload, levels, device, normalize=True), repeats=repeats, synchronize=synchronize
        )
        as_float = timed(partial(_upload, floats, device), repeats=repeats, synchronize=synchronize)
        rows.append(
            {
                "batch": batch,
                "uint8_ms_per_image": as_uint8 / batch,
                "fp32_ms_per_image": as_float / batch,
                "uint8_mb_per_image": levels[0].numel() / 1e6,
                "fp32_mb_per_image": floats[0].numel() * 4 / 1e6,
            }
        )
    return rows


def measure_detector(
    torch: Any, device: str, model_path: Path, batches: Sequence[int], repeats: int
) -> list[dict[str, Any]]:
    """Forward passes of the TorchScript detector on uint8 batches normalized on the device."""
    synchronize = _synchronizer(torch, device)
    half = device == "cuda"
    model = torch.jit.load(str(model_path), map_location=device).eval()
    if half:
        model = model.half()
    dtype = torch.float16 if half else torch.float32
    rows = []
    with torch.inference_mode():
        for batch in batches:
            images = torch.randint(0, 256, (batch, 3, SIZE, SIZE), dtype=torch.uint8, device=device)
            milliseconds = timed(
                partial(_forward, model, images, dtype), repeats=repeats, synchronize=synchronize
            )
            rows.append(
                {"batch": batch, "ms_per_batch": milliseconds, "images_per_s": batch * 1000 / milliseconds}
            )
    return rows


def measure_decode(torch: Any, device: str, images: Sequence[Path], repeats: int) -> list[dict[str, Any]]:
    """``torchvision.io.decode_jpeg`` of the sample JPEGs, one at a time and all at once."""
    try:
        from torchvision.io import decode_jpeg
    except ImportError as error:
        return [{"skipped": f"torchvision not importable: {error}"}]
    synchronize = _synchronizer(torch, device)
    encoded = [torch.frombuffer(bytearray(path.read_bytes()), dtype=torch.uint8) for path in images]
    alone = timed(
        lambda: [decode_jpeg(data, device=device) for data in encoded],
        repeats=repeats,
        synchronize=synchronize,
    )
    together = timed(lambda: decode_jpeg(encoded, device=device), repeats=repeats, synchronize=synchronize)
    return [
        {"mode": "one call per image", "ms_per_image": alone / len(encoded)},
        {"mode": f"one call for {len(encoded)} images", "ms_per_image": together / len(encoded)},
    ]


def _upload(tensor: Any, device: str, *, normalize: bool = False) -> Any:
    """Copies ``tensor`` to ``device``; with ``normalize``, uint8 levels become floats / 255 there."""
    moved = tensor.to(device, non_blocking=True)
    return moved.float().div_(255) if normalize else moved


def _forward(model: Any, images: Any, dtype: Any) -> Any:
    return model(images.to(dtype) / 255)


def _synchronizer(torch: Any, device: str) -> Callable[[], None]:
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def facts(torch: Any, device: str) -> dict[str, str]:
    """Versions and the device."""
    found = {"python": platform.python_version(), "torch": torch.__version__, "device": device}
    if device == "cuda":
        found["gpu"] = torch.cuda.get_device_name(0)
        found["cuda"] = str(torch.version.cuda)
    try:
        import torchvision

        found["torchvision"] = torchvision.__version__
    except ImportError:
        found["torchvision"] = "none"
    return found


def render(record: dict[str, Any]) -> str:
    """A Markdown summary of :func:`main`'s record."""
    lines = [
        "# GPU device measurements (benchmarks/gpu_device.py)",
        "",
        f"Command: `{record['command']}`",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in record["facts"].items()]
    lines += ["", "## Letterboxed batch to the device, normalized there", ""]
    lines += ["| batch | UINT8 ms/image | FP32 ms/image | MB/image UINT8 / FP32 |", "|---:|---:|---:|---|"]
    lines += [
        f"| {row['batch']} | {row['uint8_ms_per_image']:.3f} | {row['fp32_ms_per_image']:.3f} | "
        f"{row['uint8_mb_per_image']:.2f} / {row['fp32_mb_per_image']:.2f} |"
        for row in record["transfer"]
    ]
    lines += ["", "## Detector network alone (TorchScript)", ""]
    if isinstance(record["detector"], str):
        lines.append(record["detector"])
    else:
        lines += ["| batch | ms/batch | images/s |", "|---:|---:|---:|"]
        lines += [
            f"| {r['batch']} | {r['ms_per_batch']:.2f} | {r['images_per_s']:.0f} |"
            for r in record["detector"]
        ]
    lines += ["", "## JPEG decode", ""]
    lines += [
        f"- {row['mode']}: {row['ms_per_image']:.2f} ms/image" if "mode" in row else f"- {row['skipped']}"
        for row in record["decode"]
    ]
    return "\n".join(lines) + "\n"


def prepare(folder: Path) -> Path:
    """On the dev machine: the TorchScript detector (untrained ``yolo26n.yaml``, as the CPU benchmark
    serves) and the sample JPEGs, into ``folder`` (about 11 MB, carried to the device).

    Returns:
        The TorchScript file.
    """
    import shutil

    from ultralytics import YOLO

    from yolo26_triton.tools.images import sample_images

    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    for image in sample_images():
        shutil.copyfile(image, folder / image.name)
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):  # Ultralytics writes to the cwd
        exported = Path(YOLO("yolo26n.yaml").export(format="torchscript", imgsz=SIZE, device="cpu"))
        target = folder / "yolo26n.torchscript"
        shutil.move(str(exported.resolve()), target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Measures what it can and writes ``gpu_device.json`` and ``GPU_DEVICE.md`` into ``--out``."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_device", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--model", type=Path, help="TorchScript detector (benchmarks/gpu_run.sh --prepare)")
    parser.add_argument("--images", type=Path, nargs="*", default=[], help="JPEGs for the decode part")
    parser.add_argument("--quick", action="store_true", help="batch 1, one repeat: checks that it runs")
    parser.add_argument("--out", type=Path, help="folder for the results")
    parser.add_argument("--prepare", type=Path, metavar="FOLDER", help="only write the model and JPEGs here")
    args = parser.parse_args(argv)
    if args.prepare:
        print(f"wrote {prepare(args.prepare)}")
        return 0
    if args.out is None:
        parser.error("--out is required")
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device", file=sys.stderr)
        return 2
    batches, repeats = ((1,), 1) if args.quick else (BATCHES, 20)
    if args.device == "cpu":
        torch.set_num_threads(1)  # a dry run: check that every part runs, without taking the machine
    record: dict[str, Any] = {
        "command": " ".join(
            ["python", "-m", "benchmarks.gpu_device", *(argv if argv is not None else sys.argv[1:])]
        ),
        "facts": facts(torch, args.device),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("transfer", lambda: measure_transfer(torch, args.device, batches, repeats)),
        (
            "detector",
            lambda: (
                measure_detector(torch, args.device, args.model, batches, repeats)
                if args.model and args.model.is_file()
                else "skipped: no TorchScript model (run benchmarks/gpu_run.sh --prepare first)"
            ),
        ),
        ("decode", lambda: measure_decode(torch, args.device, args.images, repeats) if args.images else []),
    ]
    for name, step in steps:
        started = time.perf_counter()
        record[name] = step()
        print(f"{name}: {time.perf_counter() - started:.1f} s", flush=True)
        # Written after every part: a run cut short by the device's time limit keeps what it measured.
        (args.out / "gpu_device.json").write_text(json.dumps(record, indent=2))
    (args.out / "GPU_DEVICE.md").write_text(render(record))
    print(f"wrote {args.out / 'GPU_DEVICE.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
