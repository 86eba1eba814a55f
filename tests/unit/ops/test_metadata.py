"""Detector metadata and the catalog postprocess looks detector ids up in."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolo26_triton.ops.errors import UnknownDetectorError
from yolo26_triton.ops.metadata import (
    METADATA_FILENAME,
    DetectorCatalog,
    DetectorMetadata,
    detector_id,
)


def metadata(
    model: str = "yolo26", version: str = "1", names: tuple[str, ...] = ("person",)
) -> DetectorMetadata:
    return DetectorMetadata(model, version, f"{model}.pt", False, "classic", 640, names)


def write(repository: Path, entry: DetectorMetadata) -> None:
    folder = repository / entry.model / entry.version
    folder.mkdir(parents=True)
    entry.write(folder / METADATA_FILENAME)


def test_ids_are_positive_31_bit_and_differ_by_model_and_version() -> None:
    ids = {detector_id(model, version) for model in ("yolo26", "yolo26_end2end") for version in "123"}
    assert len(ids) == 6
    assert all(0 <= identifier < 2**31 for identifier in ids)
    assert metadata("yolo26", "2").detector_id == detector_id("yolo26", "2")


def test_catalog_finds_every_model_and_version(tmp_path: Path) -> None:
    entries = [metadata("yolo26", "1"), metadata("yolo26", "2", ("car",)), metadata("yolo26_end2end", "1")]
    for entry in entries:
        write(tmp_path, entry)
    catalog = DetectorCatalog(tmp_path)
    assert len(catalog) == 3
    for entry in entries:
        assert catalog.lookup(entry.detector_id) == entry


def test_a_version_built_later_is_found_by_a_new_scan(tmp_path: Path) -> None:
    write(tmp_path, metadata("yolo26", "1"))
    catalog = DetectorCatalog(tmp_path)
    write(tmp_path, metadata("yolo26", "2"))
    assert catalog.lookup(metadata("yolo26", "2").detector_id).version == "2"


def test_an_unknown_id_says_what_to_do(tmp_path: Path) -> None:
    write(tmp_path, metadata())
    (tmp_path / "postprocess" / "1").mkdir(parents=True)
    (tmp_path / "postprocess" / "1" / METADATA_FILENAME).write_text("not json")  # skipped, not fatal
    with pytest.raises(UnknownDetectorError, match=r"matches no metadata\.json.*triton-detect build"):
        DetectorCatalog(tmp_path).lookup(7)
