"""GPU check (not in CI): the CPU profile's server with the postprocess on KIND_GPU (CuPy).

Run on a machine with an NVIDIA GPU, CuPy and this project installed (for example a lent device):

    python scripts/gpu_check.py [--repository model_repository]

It serves the built repository twice on the embedded server: once as the CPU profile, once with
the postprocess model switched to its GPU configuration (``config.pbtxt``: KIND_GPU, inputs
through DLPack, CuPy NMS), sends the sample JPEGs to both and prints whether boxes, scores and
classes agree. Exit code 0 when they do.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from yolo26_triton.demo import sample_images
from yolo26_triton.server import DEFAULT_REPOSITORY, EmbeddedServer, ServerOptions

OUTPUTS = ("BOXES", "SCORES", "CLASS_IDS")


def detect_all(repository: Path) -> list[dict[str, np.ndarray]]:
    """Serves ``repository`` (CPU profile) and returns the outputs for every sample image."""
    options = ServerOptions.on_free_ports(repository=repository, extra_args=("--exit-timeout-secs=5",))
    with EmbeddedServer(options):
        client = grpcclient.InferenceServerClient(options.grpc_url)
        results = []
        for image in sample_images():
            data = np.frombuffer(image.read_bytes(), np.uint8)[None]
            tensor = grpcclient.InferInput("IMAGE", list(data.shape), "UINT8")
            tensor.set_data_from_numpy(data)
            result = client.infer("detect_ensemble", [tensor], parameters={"conf_threshold": 0.0})
            results.append({name: result.as_numpy(name)[0] for name in OUTPUTS})
        client.close()
    return results


def main() -> int:
    """Compares the NumPy and CuPy postprocess on the same server and images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=DEFAULT_REPOSITORY)
    args = parser.parse_args()
    cpu = detect_all(args.repository.resolve())
    with tempfile.TemporaryDirectory() as workdir:
        gpu_repository = Path(workdir) / "model_repository"
        shutil.copytree(args.repository, gpu_repository)
        gpu_postprocess = gpu_repository / "postprocess"
        shutil.copy(gpu_postprocess / "config.pbtxt", gpu_postprocess / "configs" / "cpu.pbtxt")
        gpu = detect_all(gpu_repository)
    agree = True
    for image, ours, theirs in zip(sample_images(), cpu, gpu, strict=True):
        same = len(ours["SCORES"]) == len(theirs["SCORES"]) and all(
            np.allclose(ours[name], theirs[name], atol=1e-3) for name in OUTPUTS
        )
        agree &= same
        counts = f"numpy {len(ours['SCORES'])} boxes, cupy {len(theirs['SCORES'])} boxes"
        print(f"{image.name}: {counts}, agree={same}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
