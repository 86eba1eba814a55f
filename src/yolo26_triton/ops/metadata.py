"""What the server knows about each deployed detector, written by the build, read by postprocess.

The build writes ``metadata.json`` beside each exported model (``<model>/<version>/``), taking the
class names from the exported model's own metadata, and gives the ONNX graph an extra output,
``output_detector_id``: the :attr:`DetectorMetadata.detector_id` of that model and version, one per image.
Whichever detector answered a request (any version of ``yolo26``, or another detector model that
shares the ``postprocess`` model), its output therefore says who it is; postprocess looks the id up
in a :class:`DetectorCatalog` of the repository's metadata files and returns the facts with every
response (``MODEL_INFO``), so a client can tell which version answered and whether its boxes come
from an untrained model.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from yolo26_triton.ops.detections import Head
from yolo26_triton.ops.errors import UnknownDetectorError

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

    @property
    def detector_id(self) -> int:
        """A positive 31-bit number naming this model and version, embedded in its ONNX graph."""
        return detector_id(self.model, self.version)

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


WARMUP_DETECTOR_ID = 0
"""The id the postprocess configs' ``model_warmup`` sends: no detector has it (:func:`detector_id` is
never 0); postprocess answers it with :func:`warmup_metadata`, so the warmup runs the whole math."""


def detector_id(model: str, version: str) -> int:
    """The id of ``model`` version ``version``: CRC-32 of ``model/version``, in 31 bits, never 0."""
    return (zlib.crc32(f"{model}/{version}".encode()) & 0x7FFFFFFF) or 1


def warmup_metadata(input_size: int) -> DetectorMetadata:
    """What postprocess answers :data:`WARMUP_DETECTOR_ID` with (classes are named by number)."""
    return DetectorMetadata(
        model="model_warmup",
        version="0",
        source="model_warmup",
        untrained=True,
        head="classic",
        input_size=input_size,
        names=(),
    )


class DetectorCatalog:
    """The metadata of every built detector version in a model repository, by detector id.

    Reads ``<repository>/<model>/<version>/metadata.json`` files; an unknown id triggers one new
    scan (a version built after the postprocess model loaded) before it is reported.
    """

    def __init__(self, repository: Path) -> None:
        self._repository = repository
        self._by_id: dict[int, DetectorMetadata] = {}
        self._scan()

    def __len__(self) -> int:
        return len(self._by_id)

    def lookup(self, identifier: int) -> DetectorMetadata:
        """The metadata of the detector version that wrote ``identifier``.

        Raises:
            UnknownDetectorError: No metadata file in the repository has this id.
        """
        if identifier not in self._by_id:
            self._scan()
        try:
            return self._by_id[identifier]
        except KeyError:
            raise UnknownDetectorError(
                f"detector id {identifier} matches no {METADATA_FILENAME} under {self._repository}: "
                "rebuild the detector with `triton-detect build`"
            ) from None

    def _scan(self) -> None:
        for path in sorted(self._repository.glob(f"*/[0-9]*/{METADATA_FILENAME}")):
            try:
                metadata = DetectorMetadata.read(path)
            except ValueError:
                continue  # not a detector's metadata; lookups of its id fail loudly instead
            self._by_id[metadata.detector_id] = metadata
