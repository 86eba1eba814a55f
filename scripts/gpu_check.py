"""GPU check: the postprocess model on KIND_GPU, fed GPU tensors through DLPack, against NumPy.

One file of about 440 lines on purpose: it is carried alone to a lent GPU machine and run there as one
prepared script within the device budget, so the repository it writes, the probe and the report
stay together.

For a lent GPU machine (CUDA and CuPy there; no TensorRT, DALI, Docker or registry):
``scripts/gpu_check.sh`` sets it up from carried files and runs it under a time limit. It serves, on
the embedded tritonserver, a repository made from this checkout's postprocess model with its GPU
config (KIND_GPU, ``FORCE_CPU_ONLY_INPUT_TENSORS: no``, the config's ``model_warmup``) behind a
detector stand-in whose outputs are GPU tensors, as a TensorRT engine's are
(``scripts/gpu_check_models/``), and the same postprocess with its CPU config, and reports:

1. placement: where ``output0``, ``ORIGINAL_SIZE`` and ``output_detector_id`` arrive in a model
   configured like postprocess (a probe);
2. agreement: CuPy against NumPy boxes, scores and classes on the sample images;
3. postprocess time per image at batch 1 and 16 (Triton's own statistics, ``compute_infer`` per
   batch size), at conf 0.25 (500 candidates per image) and conf 0 (8400);
4. first-call cost: the first request's postprocess time without the config's warmup and with it,
   and each server's time to READY.

    python scripts/gpu_check.py --images DIR --out DIR          # the GPU machine
    python scripts/gpu_check.py --cpu --images DIR --out DIR    # the same on a CPU: KIND_CPU everywhere

The ``--cpu`` run is what CI runs (tests/integration/test_gpu_check.py), so that nothing of this
script is left untried before a device is lent. Exit code 0 when placement and agreement hold.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from yolo26_triton.contract import INPUT_SIZE
from yolo26_triton.ops.letterbox import PAD_VALUE, LetterboxGeometry
from yolo26_triton.ops.metadata import DetectorMetadata
from yolo26_triton.serving.launcher import EmbeddedServer
from yolo26_triton.serving.options import ServerOptions

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "model_repository" / "postprocess"
STAND_INS = Path(__file__).resolve().parent / "gpu_check_models"
COMPOSE_FILE = ROOT / "docker-compose.yml"
HOT_ANCHORS = 500
"""Candidates per image above 0.3 in the stand-in's output (a busy street scene of a trained model)."""
BURST = 16
"""Requests sent at once for the batch-16 timing (the configs' ``max_batch_size``)."""
BURST_DELAY_US = 2_000_000
"""Queue delay of ``postprocess_gpu16``, the copy that waits for a full burst (``preferred_batch_size``);
a model's compute time per batch does not depend on how its batch was formed."""
OUTPUTS = ("BOXES", "SCORES", "CLASS_IDS")
STAND_IN = DetectorMetadata(
    "detector", "1", "gpu_check stand-in", True, "classic", INPUT_SIZE, tuple(map(str, range(80)))
)
DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.int32): "INT32", np.dtype(np.uint8): "UINT8"}
FROM_DATATYPE = {"FP32": np.float32, "INT32": np.int32}


# ------------------------------------------------------------------------------------- repository


def postprocess_config(source: str, name: str, kind: str, *, warmup: bool, burst: bool = False) -> str:
    """A copy of a postprocess config under ``name`` on ``kind``; with ``burst``, it waits for
    :data:`BURST` requests before it runs."""
    text = re.sub(r'^name: "postprocess"', f'name: "{name}"', source, count=1, flags=re.M)
    text = re.sub(r"kind: KIND_\w+", f"kind: {kind}", text)
    if burst:
        text = re.sub(
            r"max_queue_delay_microseconds: \d+",
            f"max_queue_delay_microseconds: {BURST_DELAY_US}\n  preferred_batch_size: [ {BURST} ]",
            text,
        )
    if not warmup:
        text = text[: text.index("model_warmup [")]
    return text


def detector_config(kind: str) -> str:
    return f"""name: "detector"
backend: "python"
max_batch_size: 16
input [
  {{ name: "images", data_type: TYPE_UINT8, dims: [ 3, {INPUT_SIZE}, {INPUT_SIZE} ] }},
  {{ name: "ORIGINAL_SIZE", data_type: TYPE_INT32, dims: [ 2 ] }}
]
output [
  {{ name: "output0", data_type: TYPE_FP32, dims: [ -1, -1 ] }},
  {{ name: "output_detector_id", data_type: TYPE_INT32, dims: [ 1 ] }},
  {{ name: "original_size", data_type: TYPE_INT32, dims: [ 2 ] }}
]
instance_group [ {{ count: 1, kind: {kind} }} ]
dynamic_batching {{ max_queue_delay_microseconds: 500 }}
parameters [
  {{ key: "detector_id", value: {{ string_value: "{STAND_IN.detector_id}" }} }},
  {{ key: "hot", value: {{ string_value: "{HOT_ANCHORS}" }} }}
]
"""


def probe_config(kind: str) -> str:
    return f"""name: "probe"
backend: "python"
max_batch_size: 16
input [
  {{ name: "output0", data_type: TYPE_FP32, dims: [ -1, -1 ] }},
  {{ name: "ORIGINAL_SIZE", data_type: TYPE_INT32, dims: [ 2 ] }},
  {{ name: "output_detector_id", data_type: TYPE_INT32, dims: [ 1 ] }}
]
output [ {{ name: "PLACEMENT", data_type: TYPE_STRING, dims: [ 1 ] }} ]
instance_group [ {{ count: 1, kind: {kind} }} ]
parameters [ {{ key: "FORCE_CPU_ONLY_INPUT_TENSORS", value: {{ string_value: "no" }} }} ]
"""


def ensemble_config(name: str, postprocess: str, *, probe: bool) -> str:
    wiring = """input_map { key: "output0" value: "raw" }
      input_map { key: "ORIGINAL_SIZE" value: "size" }
      input_map { key: "output_detector_id" value: "id" }"""
    probe_step = (
        f""",
    {{
      model_name: "probe"
      model_version: -1
      {wiring}
      output_map {{ key: "PLACEMENT" value: "PLACEMENT" }}
    }}"""
        if probe
        else ""
    )
    probe_output = ',\n  { name: "PLACEMENT", data_type: TYPE_STRING, dims: [ 1 ] }' if probe else ""
    return f"""name: "{name}"
platform: "ensemble"
max_batch_size: 16
input [
  {{ name: "IMAGES", data_type: TYPE_UINT8, dims: [ 3, {INPUT_SIZE}, {INPUT_SIZE} ] }},
  {{ name: "ORIGINAL_SIZE", data_type: TYPE_INT32, dims: [ 2 ] }}
]
output [
  {{ name: "BOXES", data_type: TYPE_FP32, dims: [ -1, 4 ] }},
  {{ name: "SCORES", data_type: TYPE_FP32, dims: [ -1 ] }},
  {{ name: "CLASS_IDS", data_type: TYPE_INT32, dims: [ -1 ] }}{probe_output}
]
ensemble_scheduling {{
  step [
    {{
      model_name: "detector"
      model_version: -1
      input_map {{ key: "images" value: "IMAGES" }}
      input_map {{ key: "ORIGINAL_SIZE" value: "ORIGINAL_SIZE" }}
      output_map {{ key: "output0" value: "raw" }}
      output_map {{ key: "output_detector_id" value: "id" }}
      output_map {{ key: "original_size" value: "size" }}
    }},
    {{
      model_name: "{postprocess}"
      model_version: -1
      {wiring}
      output_map {{ key: "BOXES" value: "BOXES" }}
      output_map {{ key: "SCORES" value: "SCORES" }}
      output_map {{ key: "CLASS_IDS" value: "CLASS_IDS" }}
    }}{probe_step}
  ]
}}
"""


def build_repository(destination: Path, *, device: str, warmup: bool) -> Path:
    """The repository: detector stand-in, postprocess on ``device`` and on the CPU, probe, ensembles."""
    kind = "KIND_GPU" if device == "gpu" else "KIND_CPU"

    def model(name: str, config: str, code: Path) -> Path:
        (destination / name / "1").mkdir(parents=True)
        (destination / name / "config.pbtxt").write_text(config)
        shutil.copyfile(code, destination / name / "1" / "model.py")
        return destination / name

    detector = model("detector", detector_config(kind), STAND_INS / "detector.py")
    STAND_IN.write(detector / "1" / "metadata.json")
    model("probe", probe_config(kind), STAND_INS / "probe.py")
    for name, source, model_kind, burst in (
        ("postprocess_gpu", SOURCE / "config.pbtxt", kind, False),
        ("postprocess_gpu16", SOURCE / "config.pbtxt", kind, True),
        ("postprocess_cpu", SOURCE / "configs" / "cpu.pbtxt", "KIND_CPU", False),
    ):
        config = postprocess_config(source.read_text(), name, model_kind, warmup=warmup, burst=burst)
        folder = model(name, config, SOURCE / "1" / "model.py")
        shutil.copytree(SOURCE / "warmup", folder / "warmup")
    for name, postprocess, probe in (
        ("check_gpu", "postprocess_gpu", True),
        ("check_gpu16", "postprocess_gpu16", False),
        ("check_cpu", "postprocess_cpu", False),
    ):
        (destination / name / "1").mkdir(parents=True)
        (destination / name / "config.pbtxt").write_text(ensemble_config(name, postprocess, probe=probe))
    return destination


# ------------------------------------------------------------------------------ client (no tritonclient)


def infer(
    http_url: str,
    model: str,
    inputs: dict[str, np.ndarray],
    parameters: dict[str, Any],
    *,
    probe: bool = False,
) -> dict[str, Any]:
    """One request over HTTP with Triton's binary tensor extension; outputs by name (``PLACEMENT`` too
    with ``probe``)."""
    header = {
        "inputs": [
            {"name": name, "shape": list(array.shape), "datatype": DATATYPES[array.dtype],
             "parameters": {"binary_data_size": array.nbytes}}
            for name, array in inputs.items()
        ],
        "outputs": [{"name": name, "parameters": {"binary_data": True}} for name in OUTPUTS]
        + ([{"name": "PLACEMENT", "parameters": {"binary_data": False}}] if probe else []),
        "parameters": parameters,
    }  # fmt: skip
    head = json.dumps(header).encode()
    request = urllib.request.Request(
        f"http://{http_url}/v2/models/{model}/infer",
        data=head + b"".join(np.ascontiguousarray(array).tobytes() for array in inputs.values()),
        headers={
            "Content-Type": "application/octet-stream",
            "Inference-Header-Content-Length": str(len(head)),
        },
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        body = response.read()
        length = int(response.headers.get("Inference-Header-Content-Length", len(body)))
    answer, offset, outputs = json.loads(body[:length]), length, {}
    for output in answer["outputs"]:
        size = output.get("parameters", {}).get("binary_data_size")
        if size is None:
            outputs[output["name"]] = output["data"]
            continue
        chunk = body[offset : offset + size]
        offset += size
        if output["datatype"] == "BYTES":
            outputs[output["name"]] = _bytes_tensor(chunk)
        else:
            outputs[output["name"]] = np.frombuffer(chunk, FROM_DATATYPE[output["datatype"]]).reshape(
                output["shape"]
            )
    return outputs


def _bytes_tensor(chunk: bytes) -> list[str]:
    items, offset = [], 0
    while offset < len(chunk):
        size = int.from_bytes(chunk[offset : offset + 4], "little")
        items.append(chunk[offset + 4 : offset + 4 + size].decode())
        offset += 4 + size
    return items


def batch_stats(http_url: str, model: str) -> dict[int, tuple[int, int]]:
    """``{batch size: (executions, compute_infer ns)}`` from Triton's statistics of ``model``."""
    with urllib.request.urlopen(f"http://{http_url}/v2/models/{model}/stats", timeout=30) as response:
        stats = json.loads(response.read())["model_stats"][0]
    return {
        int(entry["batch_size"]): (int(entry["compute_infer"]["count"]), int(entry["compute_infer"]["ns"]))
        for entry in stats.get("batch_stats", [])
    }


def per_image_ms(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict[int, float]:
    """Compute time per image of each batch size executed between two :func:`batch_stats` readings."""
    result = {}
    for size, (count, ns) in after.items():
        count_before, ns_before = before.get(size, (0, 0))
        if count > count_before:
            result[size] = (ns - ns_before) / (count - count_before) / size / 1e6
    return result


# --------------------------------------------------------------------------------------- the check


@dataclass
class Sample:
    """A sample image, letterboxed as the ensemble's preprocess does."""

    name: str
    pixels: np.ndarray
    original_size: np.ndarray


def letterbox(path: Path) -> Sample:
    """``cv2.imread`` and Ultralytics' letterbox (the geometry of ``yolo26_triton.ops.letterbox``)."""
    image = cv2.imread(str(path))
    height, width = image.shape[:2]
    geometry = LetterboxGeometry.for_image(height, width, INPUT_SIZE)
    resized = cv2.resize(
        image, (geometry.resized_width, geometry.resized_height), interpolation=cv2.INTER_LINEAR
    )
    canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), PAD_VALUE, np.uint8)
    canvas[
        geometry.top : geometry.top + geometry.resized_height,
        geometry.left : geometry.left + geometry.resized_width,
    ] = resized
    pixels = np.ascontiguousarray(canvas[..., ::-1].transpose(2, 0, 1))  # UINT8, as preprocess sends
    return Sample(path.name, pixels, np.array([height, width], np.int32))


def server_for(repository: Path, device: str, log: Path) -> EmbeddedServer:
    """The embedded server for ``repository`` (started by ``with``, stopped at its end)."""
    extra: list[str] = []
    if device == "gpu":
        pool = re.search(r"--cuda-memory-pool-byte-size=0:\$\{\w+:-(\d+)\}", COMPOSE_FILE.read_text())
        extra.append(f"--cuda-memory-pool-byte-size=0:{pool[1] if pool else 268435456}")
    else:
        extra += [
            "--allow-gpu-metrics=false",
            "--pinned-memory-pool-byte-size=0",
            "--cuda-memory-pool-byte-size=0:0",
        ]
    options = ServerOptions.on_free_ports(
        repository=repository, profile="gpu", detector_slots=0, extra_args=tuple(extra)
    )
    return EmbeddedServer(options, log_file=log.open("w"))


def first_call(server: EmbeddedServer, sample: Sample) -> float:
    """The postprocess time (ms) of the first request a fresh server answers."""
    url = server.options.http_url
    before = batch_stats(url, "postprocess_gpu")
    infer(url, "check_gpu", {"IMAGES": sample.pixels[None], "ORIGINAL_SIZE": sample.original_size[None]}, {})
    return sum(per_image_ms(before, batch_stats(url, "postprocess_gpu")).values())


def timings(url: str, sample: Sample, conf: float, repeats: int) -> dict[str, float]:
    """Postprocess ms per image at batch 1 (sequential requests) and :data:`BURST` (bursts that
    ``postprocess_gpu16`` runs as one batch)."""
    inputs = {"IMAGES": sample.pixels[None], "ORIGINAL_SIZE": sample.original_size[None]}
    parameters = {"conf_threshold": conf}
    before = batch_stats(url, "postprocess_gpu")
    for _ in range(repeats):
        infer(url, "check_gpu", inputs, parameters)
    single = per_image_ms(before, batch_stats(url, "postprocess_gpu"))
    before = batch_stats(url, "postprocess_gpu16")
    with ThreadPoolExecutor(BURST) as pool:
        for _ in range(repeats):
            list(pool.map(lambda _: infer(url, "check_gpu16", inputs, parameters), range(BURST)))
    burst = per_image_ms(before, batch_stats(url, "postprocess_gpu16"))
    return {"batch_1": single.get(1, float("nan")), f"batch_{BURST}": burst.get(BURST, float("nan"))} | {
        f"batch_{size}_(formed_unasked)": value for size, value in burst.items() if size != BURST
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.budget_s
    device = "cpu" if args.cpu else "gpu"
    samples = [letterbox(path) for path in sorted(args.images.glob("*.jp*g"))]
    if not samples:
        raise SystemExit(f"no .jpg files in {args.images}")
    report: dict[str, Any] = {"device": device, "samples": [sample.name for sample in samples]}
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as folder:
        report["workdir"] = folder  # in the servers' command lines: no process may keep it after the run
        cold = build_repository(Path(folder) / "cold", device=device, warmup=False)
        started = time.perf_counter()
        with server_for(cold, device, args.out / "tritonserver-nowarmup.log") as server:
            report["ready_s_without_warmup"] = time.perf_counter() - started
            report["first_call_ms_without_warmup"] = first_call(server, samples[0])
        warm = build_repository(Path(folder) / "warm", device=device, warmup=True)
        started = time.perf_counter()
        with server_for(warm, device, args.out / "tritonserver.log") as server:
            url = server.options.http_url
            report["ready_s_with_warmup"] = time.perf_counter() - started
            report["first_call_ms_with_warmup"] = first_call(server, samples[0])
            placements, agreement = [], {}
            for sample in samples:
                inputs = {"IMAGES": sample.pixels[None], "ORIGINAL_SIZE": sample.original_size[None]}
                ours = infer(url, "check_gpu", inputs, {}, probe=True)
                reference = infer(url, "check_cpu", inputs, {})
                placements.append(json.loads(ours["PLACEMENT"][0]))
                agreement[sample.name] = {
                    "boxes": int(reference["SCORES"].shape[1]),
                    "agree": bool(
                        ours["SCORES"].shape == reference["SCORES"].shape
                        and np.allclose(ours["BOXES"], reference["BOXES"], atol=1e-3)
                        and np.allclose(ours["SCORES"], reference["SCORES"], atol=1e-6)
                        and np.array_equal(ours["CLASS_IDS"], reference["CLASS_IDS"])
                    ),
                }
            report["placement"] = placements[0]
            report["placement_consistent"] = all(placement == placements[0] for placement in placements)
            report["agreement"] = agreement
            report["postprocess_ms_per_image"] = {}
            for conf in (0.25, 0.0):
                if time.monotonic() > deadline:
                    report["postprocess_ms_per_image"][str(conf)] = "skipped: time budget spent"
                    continue
                report["postprocess_ms_per_image"][str(conf)] = timings(url, samples[0], conf, args.repeats)
    expected = "gpu" if device == "gpu" else "cpu"
    report["ok"] = bool(
        report["placement_consistent"]
        and set(report["placement"].values()) == {expected}
        and all(entry["agree"] for entry in agreement.values())
    )
    return report


def main() -> int:
    """Runs the check; writes ``report.json`` into ``--out`` and prints it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, required=True, help="folder of sample JPEGs")
    parser.add_argument("--out", type=Path, required=True, help="folder for report.json and the server logs")
    parser.add_argument("--cpu", action="store_true", help="KIND_CPU everywhere: the CI half of the check")
    parser.add_argument(
        "--repeats", type=int, default=20, help="requests (batch 1) or bursts of 16 per timing"
    )
    parser.add_argument(
        "--budget-s", type=float, default=420.0, help="timings are skipped past this many seconds"
    )
    args = parser.parse_args()
    report = run(args)
    (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
