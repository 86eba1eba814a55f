"""A seeded YOLO26n whose scores spread out, so that two pipelines can be compared box by box.

An untrained YAML model scores every anchor about 1.6e-4, nearly all tied: NMS order is then
arbitrary and no comparison means anything. Three seeded changes make it comparable:

1. BatchNorm statistics recalibrated on real images (activations get a sane scale);
2. every BatchNorm weight damped by ``FEATURE_DAMPING``: undamped, a random network is chaotic,
   and the one-grey-level difference between two correct letterbox resizes (DALI's float
   arithmetic, OpenCV's fixed point) moves its boxes by tens of pixels; at 0.9 they move by
   less than 0.05 px, as a trained detector's would;
3. the classification convolutions scaled and biased so that scores spread out and rarely tie.

A test fixture, never a user's default.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from ultralytics.data.augment import LetterBox

from yolo26_triton.export.builder import untrained_model

from .sample_images import SAMPLE_IMAGES

CONF = 0.45
"""Above this the fixture model keeps fewer than 300 boxes per sample image after NMS, so no box
sits at the max_det cut, where scores that differ by 1e-4 between two letterbox resizes could swap
the last place."""
SCORE_TOLERANCE = 0.01
"""Scores of one box differ by up to 0.005 between the two pipelines: DALI (float) and OpenCV
(fixed point) resize to within one grey level, and the fixture's scaled classifier amplifies it."""
FEATURE_DAMPING = 0.9
CLASSIFICATION_WEIGHT_SCALE = 8.0
CLASSIFICATION_BIAS = -2.0


def make_spread_score_weights(path: Path, seed: int = 0) -> Path:
    """Writes the fixture model to ``path`` (a ``.pt`` that ``YOLO(path)`` loads)."""
    torch.manual_seed(seed)
    yolo = untrained_model("yolo26n.yaml")
    network = yolo.model
    batch = np.stack(
        [
            LetterBox((640, 640), auto=False)(image=cv2.imread(str(image)))[..., ::-1]
            for image in SAMPLE_IMAGES
        ]
    )
    images = torch.from_numpy(batch.transpose(0, 3, 1, 2).copy()).float() / 255
    for module in network.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.momentum = None  # cumulative average over the calibration pass
            module.reset_running_stats()
    network.train()
    with torch.no_grad():
        network(images)
    network.eval()
    head = network.model[-1]
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.mul_(FEATURE_DAMPING)
        for branch in [*head.cv3, *getattr(head, "one2one_cv3", [])]:
            branch[-1].weight.mul_(CLASSIFICATION_WEIGHT_SCALE)
            branch[-1].bias.fill_(CLASSIFICATION_BIAS)
    yolo.save(path)
    return path
