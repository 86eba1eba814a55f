"""The built repository, the configurations served and the loads the scenarios share.

A configuration is a copy of the built repository with edits to models' CPU configs
(:mod:`benchmarks.configs`) and server options (``detector_slots``, extra flags). A configuration
under a load runs once, however many scenarios print it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2

from yolo26_triton.export.builder import build_repository
from yolo26_triton.export.repository import (
    TEMPLATE_DETECTOR,
    TEMPLATE_ENTRY_POINT,
    config_path,
    copy_templates,
    edit_config,
    entry_point_name,
)
from yolo26_triton.serving.options import DEFAULT_REPOSITORY
from yolo26_triton.tools.images import sample_images

from ..configs import ConfigEdit, copy_repository
from .load import Flow, Load, Run, serve

DETECTOR = TEMPLATE_DETECTOR
END_TO_END = "yolo26_end2end"
DETECTORS = (DETECTOR, END_TO_END)
ENTRY_POINT = TEMPLATE_ENTRY_POINT
END_TO_END_ENTRY_POINT = entry_point_name(END_TO_END)
SHARED_STEPS = ("validate", "preprocess", "postprocess")
FLOOD_CLIENTS = 12
"""Clients on each flooded entry point in the standard loads."""


def small_jpeg(source: Path) -> bytes:
    """A 160x120 JPEG of ``source``: cheap to decode, so a flood loads the detector more than the
    shared steps.

    Raises:
        RuntimeError: OpenCV cannot read or encode ``source``.
    """
    image = cv2.imread(str(source))
    if image is None:
        raise RuntimeError(f"could not read {source}")
    ok, encoded = cv2.imencode(".jpg", cv2.resize(image, (160, 120)))
    if not ok:
        raise RuntimeError(f"could not encode {source}")
    return bytes(encoded.tobytes())


class Bench:
    """The built repository, the configurations served, the runs done."""

    def __init__(self, workdir: Path, duration_s: float) -> None:
        self.workdir = workdir
        self.duration_s = duration_s
        self.built = workdir / "built" / "model_repository"
        self._runs: dict[str, Run] = {}
        self._images = sample_images()

    def build(self) -> None:
        """The templates, then ``yolo26n.yaml`` as ``yolo26`` and as ``yolo26_end2end`` (NMS-free)."""
        copy_templates(DEFAULT_REPOSITORY, self.built)
        build_repository(self.built, "yolo26n.yaml")
        build_repository(self.built, "yolo26n.yaml", model=END_TO_END, head="nms_free")

    @property
    def full_image(self) -> bytes:
        """The full-size sample JPEG (Ultralytics' bus.jpg, 810x1080)."""
        return self._images[0].read_bytes()

    @property
    def small_image(self) -> bytes:
        """The same, 160x120."""
        return small_jpeg(self._images[0])

    def run(
        self,
        name: str,
        load_name: str,
        load: Load,
        edits: dict[str, ConfigEdit] | None = None,
        **options: Any,
    ) -> Run:
        """``load`` on the built repository with ``edits`` to models' CPU configs and ``options`` for
        the server (:func:`~benchmarks.quotas.load.serve`); ``name`` and ``load_name`` identify the
        pair, which runs once."""
        key = f"{name}/{load_name}"
        if key not in self._runs:
            folder = self.workdir / f"run{len(self._runs)}"
            repository = self.built
            if edits:
                repository = copy_repository(self.built, folder / "model_repository")
                for model, change in edits.items():
                    edit_config(config_path(repository, model), change)
            print(f"  [{name}; {load_name}]", flush=True)
            self._runs[key] = serve(repository, folder, load, self.duration_s, **options)
        return self._runs[key]

    def flood_both(self) -> tuple[str, Load]:
        """:data:`FLOOD_CLIENTS` clients on each entry point, the full-size JPEG."""
        image = self.full_image
        return f"{FLOOD_CLIENTS} clients on each entry point", Load(
            (
                Flow(ENTRY_POINT, ENTRY_POINT, FLOOD_CLIENTS, image),
                Flow(END_TO_END_ENTRY_POINT, END_TO_END_ENTRY_POINT, FLOOD_CLIENTS, image),
            )
        )

    def flood_and_light(self, history: bool = False) -> tuple[str, Load]:
        """:data:`FLOOD_CLIENTS` clients flood ``detect_end2end``, 2 light ones use ``detect_ensemble``;
        with ``history``, 8 clients on ``detect_ensemble`` alone first."""
        image = self.full_image
        flows = (
            Flow("flood", END_TO_END_ENTRY_POINT, FLOOD_CLIENTS, image),
            Flow("light", ENTRY_POINT, 2, image),
        )
        if history:
            before = (Flow("history", ENTRY_POINT, 8, image),)
            name = f"yolo26 alone (8 clients), then {FLOOD_CLIENTS} flood + 2 light clients"
            return name, Load(flows, before)
        return f"{FLOOD_CLIENTS} flood clients on detect_end2end + 2 light on detect_ensemble", Load(flows)
