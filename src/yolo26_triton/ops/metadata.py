"""What the server knows about the deployed detector, written by the build, read by postprocess.

The build writes ``metadata.json`` beside the exported model (``yolo26/<version>/``), taking the
class names from the exported model's own metadata. The postprocess model reads it once at load
time and returns its facts with every response (``MODEL_INFO``), so a client can tell, among
other things, that boxes come from an untrained model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .detections import Head

METADATA_FILENAME = "metadata.json"


@dataclass(frozen=True)
class DetectorMetadata:
    """Facts about one exported detector version.

    Attributes:
        model: Triton model name of the detector.
        version: Triton version of the detector.
        source: What it was exported from (``yolo26n.pt``, a local path, or a YAML).
        untrained: True when no trained weights were available: its boxes mean nothing.
        head: ``classic`` (needs NMS) or ``nms_free``.
        input_size: Side of the square model input.
        names: Class names, index = class id.
    """

    model: str
    version: str
    source: str
    untrained: bool
    head: Head
    input_size: int
    names: tuple[str, ...]

    def write(self, path: Path) -> None:
        """Writes the metadata as JSON to ``path``."""
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> DetectorMetadata:
        """Reads metadata written by :meth:`write`.

        Raises:
            FileNotFoundError: If the model was not built yet.
            ValueError: If the file is not valid metadata.
        """
        try:
            fields: dict[str, Any] = json.loads(path.read_text())
            fields["names"] = tuple(fields["names"])
            return cls(**fields)
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise ValueError(f"{path} is not detector metadata: {error}") from error

    def response_info(self, original_size: tuple[int, int]) -> str:
        """The ``MODEL_INFO`` JSON returned with one image's detections."""
        return json.dumps(
            {
                "model": self.model,
                "version": self.version,
                "source": self.source,
                "untrained": self.untrained,
                "head": self.head,
                "image_size": [int(original_size[0]), int(original_size[1])],
            }
        )
