"""The GPU pipeline definition, run on the CPU with the DALI version of the server image's backend.

The DALI backend of the 26.06 image runs DALI 2.1.1 (``production_image.toml``), this environment
2.4.0. In a subprocess that imports 2.1.1 (``tests/server_dali.py``; installed into ``.cache/`` on
first use), the pipeline graph of ``preprocess/1/dali.py`` runs with the CPU decoder on the sample
images and on an EXIF-rotated phone photo, and ``dali.py`` is serialized the way the backend does it.
The letterbox must stay within one grey level of Ultralytics' ``LetterBox`` (on ``cv2.imread``,
which applies EXIF orientation), and the orientation-6 photo must come out upright.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from yolo26_triton.export.production_image import production_image

from ...jpeg_variants import unusual_jpegs
from ...letterbox_reference import SIZE, max_grey_level_difference, ultralytics_chw
from ...sample_images import SAMPLE_IMAGES
from ...server_dali import ROOT, run_with_server_dali

DALI_FILE = ROOT / "model_repository" / "preprocess" / "1" / "dali.py"

CHILD = """
import sys
import numpy as np
import nvidia.dali
from tests.server_dali import autoserialize
from yolo26_triton.ops.dali_pipeline import INPUT_NAME, build_pipeline

dali_file, serialized, output, *images = sys.argv[1:]
pipe = build_pipeline(decoder="cpu", size=640, batch_size=1)  # the graph of dali.py, CPU decoder
pipe.build()
results = {}
for index, path in enumerate(images):
    pipe.feed_input(INPUT_NAME, [np.fromfile(path, np.uint8)])
    pixels, sizes = pipe.run()
    results[f"pixels{index}"] = np.asarray(pixels[0])
    results[f"size{index}"] = np.asarray(sizes[0])
np.savez(output, version=np.array(nvidia.dali.__version__), **results)
autoserialize(dali_file, serialized)
"""


class ServerDaliRun:
    """What the server's DALI made of each image: ``(pixels, original_size)``, and the serialized dali.py."""

    def __init__(self, images: list[Path], output: Path, serialized: Path) -> None:
        self.images = images
        self.serialized = serialized
        with np.load(output) as arrays:
            self.version = str(arrays["version"])
            self.outputs = {
                path: (arrays[f"pixels{index}"], arrays[f"size{index}"]) for index, path in enumerate(images)
            }


@pytest.fixture(scope="module")
def exif_rotated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """bus.jpg (810x1080) stored as is with EXIF orientation 6: upright, it is 1080 wide, 810 high."""
    path = tmp_path_factory.mktemp("exif") / "orientation6.jpg"
    path.write_bytes(unusual_jpegs()["exif_rotated"])
    return path


@pytest.fixture(scope="module")
def server_dali_run(tmp_path_factory: pytest.TempPathFactory, exif_rotated: Path) -> Iterator[ServerDaliRun]:
    folder = tmp_path_factory.mktemp("server-dali")
    images = [*SAMPLE_IMAGES, exif_rotated]
    output, serialized = folder / "outputs.npz", folder / "model.dali"
    completed = run_with_server_dali(
        CHILD, argv=[str(DALI_FILE), str(serialized), str(output), *map(str, images)], front=[ROOT]
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    yield ServerDaliRun(images, output, serialized)


def test_the_child_ran_the_server_images_dali(server_dali_run: ServerDaliRun) -> None:
    assert server_dali_run.version == production_image().dali_version


@pytest.mark.parametrize("index", range(len(SAMPLE_IMAGES)), ids=[path.name for path in SAMPLE_IMAGES])
def test_sample_image_matches_ultralytics_letterbox(server_dali_run: ServerDaliRun, index: int) -> None:
    path = SAMPLE_IMAGES[index]
    pixels, original_size = server_dali_run.outputs[path]
    bgr = cv2.imread(str(path))

    assert pixels.dtype == np.uint8
    assert pixels.shape == (3, SIZE, SIZE)
    assert original_size.tolist() == list(bgr.shape[:2])
    assert max_grey_level_difference(pixels, ultralytics_chw(bgr)) <= 1


def test_exif_orientation_6_comes_out_upright(server_dali_run: ServerDaliRun, exif_rotated: Path) -> None:
    pixels, original_size = server_dali_run.outputs[exif_rotated]
    upright = cv2.imread(str(exif_rotated))  # cv2.imread applies the EXIF orientation, as in Ultralytics

    assert upright.shape[:2] == (810, 1080)
    assert original_size.tolist() == [810, 1080]
    assert max_grey_level_difference(pixels, ultralytics_chw(upright)) <= 1


def test_dali_py_serializes_with_the_servers_dali(server_dali_run: ServerDaliRun) -> None:
    data = server_dali_run.serialized.read_bytes()
    assert b"experimental__decoders__Image" in data
    assert b"mixed" in data
