"""CuPy and NumPy run the same postprocess math to the same result (needs a GPU and CuPy)."""

from __future__ import annotations

import numpy as np
import pytest

from yolo26_triton.ops.detections import (
    DetectionSettings,
    detections_in_original_pixels,
    detections_in_original_pixels_batch,
)

cupy = pytest.importorskip("cupy", reason="CuPy is the GPU postprocess; not installed here")
if cupy.cuda.runtime.getDeviceCount() == 0:  # pragma: no cover  (depends on the machine)
    pytest.skip("no CUDA device", allow_module_level=True)


def classic_head(seed: int) -> np.ndarray:
    generator = np.random.default_rng(seed)
    raw = np.empty((84, 8400), dtype=np.float32)
    raw[:2] = generator.uniform(0, 640, (2, 8400))
    raw[2:4] = generator.uniform(4, 200, (2, 8400))
    raw[4:] = generator.uniform(0, 1, (80, 8400)) ** 4  # mostly low scores, a few high, all distinct
    return raw


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "settings", [DetectionSettings(), DetectionSettings(conf_threshold=0.05, iou_threshold=0.5)]
)
def test_cupy_equals_numpy(seed: int, settings: DetectionSettings) -> None:
    raw = classic_head(seed)
    on_cpu = detections_in_original_pixels(raw, (1080, 810), settings, 640, np)
    on_gpu = detections_in_original_pixels(cupy.asarray(raw), (1080, 810), settings, 640, cupy)
    for expected, actual in zip(on_cpu, on_gpu, strict=True):
        np.testing.assert_allclose(cupy.asnumpy(actual), expected, atol=1e-3)


def test_cupy_batch_equals_numpy_batch() -> None:
    """One batched call on the GPU, mixed thresholds and image sizes, as the postprocess model runs it."""
    raw = np.stack([classic_head(seed) for seed in range(16)])
    settings = [
        DetectionSettings(conf_threshold=0.05 * (index % 5), iou_threshold=0.5 + 0.02 * index)
        for index in range(16)
    ]
    sizes = [(1080 - 20 * index, 810 + 30 * index) for index in range(16)]
    on_cpu = detections_in_original_pixels_batch(raw, sizes, settings, 640, np)
    on_gpu = detections_in_original_pixels_batch(cupy.asarray(raw), sizes, settings, 640, cupy)
    assert on_gpu.counts == on_cpu.counts
    for name in ("boxes", "scores", "class_ids"):
        np.testing.assert_allclose(cupy.asnumpy(getattr(on_gpu, name)), getattr(on_cpu, name), atol=1e-3)
