"""The facts about the NGC ``tritonserver`` image the GPU profile runs on, read from one file.

``production_image.toml`` (beside this module) holds each fact once, with the source it was read
from and the command that checks it on a host that has the image; this module turns it into a
frozen :class:`ProductionImage`. The code (trtexec's place, the DALI version the CI check runs),
the tests of the Dockerfiles and of ``docker-compose.yml``, and ``docs/gpu.md`` all use it.

Imports nothing outside the standard library: the builder image and the server image both read it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

FACTS_FILE = "production_image.toml"


@dataclass(frozen=True)
class Fact:
    """One fact: its value, where it was read, and how to check it on a host with the image."""

    name: str
    value: Any
    source: str
    check: str


@dataclass(frozen=True)
class ProductionImage:
    """The NGC ``tritonserver`` release and what it carries (see ``production_image.toml``).

    Attributes:
        image: Full image reference (``nvcr.io/nvidia/tritonserver:26.06-py3``).
        triton_version: Triton release inside it.
        cuda_major: CUDA major version (selects the ``-cuda13x``-style wheels).
        tensorrt_major: TensorRT major version (11: strongly typed, no ``--fp16``).
        python_version: ``major.minor`` of the image's ``python3``, the one the Python backend embeds.
        dali_version: The DALI the DALI backend runs (and ``python3`` imports: it is on PYTHONPATH).
        dali_package: The pip distribution of that DALI.
        dali_path: The folder holding the backend's DALI wheel, on the image's PYTHONPATH.
        cupy_package: The CuPy distribution the image installs.
        trtexec: Where ``trtexec`` lives in the image.
        has_libgl: Whether ``libGL.so.1`` exists (``opencv-python`` needs it; the headless wheel does not).
        cuda_memory_pool_default_bytes: Triton's default ``--cuda-memory-pool-byte-size`` per GPU.
        python_packages: Distributions the image's system Python holds before ours are added.
        facts: Every fact with its source and check command, in file order.
    """

    image: str
    triton_version: str
    cuda_major: int
    tensorrt_major: int
    python_version: str
    dali_version: str
    dali_package: str
    dali_path: PurePosixPath
    cupy_package: str
    trtexec: PurePosixPath
    has_libgl: bool
    cuda_memory_pool_default_bytes: int
    python_packages: tuple[str, ...]
    facts: tuple[Fact, ...]

    @property
    def release(self) -> str:
        """The NGC release (``26.06``), the tag of our own images too."""
        return self.image.rsplit(":", 1)[1].removesuffix("-py3")

    @classmethod
    def parse(cls, text: str) -> ProductionImage:
        """Reads the TOML text of ``production_image.toml``.

        Raises:
            ValueError: A fact is missing, has no source or check, or has the wrong type.
        """
        table = tomllib.loads(text)
        facts = []
        for name, entry in table.items():
            if not isinstance(entry, dict) or not {"value", "source", "check"} <= entry.keys():
                raise ValueError(f"{FACTS_FILE}: [{name}] needs value, source and check")
            facts.append(Fact(name, entry["value"], str(entry["source"]), str(entry["check"])))
        values = {fact.name: fact.value for fact in facts}
        expected = {
            "image": str,
            "triton_version": str,
            "cuda_major": int,
            "tensorrt_major": int,
            "python_version": str,
            "dali_version": str,
            "dali_package": str,
            "dali_path": str,
            "cupy_package": str,
            "trtexec": str,
            "has_libgl": bool,
            "cuda_memory_pool_default_bytes": int,
            "python_packages": list,
        }
        for name, kind in expected.items():
            if not isinstance(values.get(name), kind):
                raise ValueError(
                    f"{FACTS_FILE}: [{name}] value must be a {kind.__name__}, got {values.get(name)!r}"
                )
        return cls(
            image=values["image"],
            triton_version=values["triton_version"],
            cuda_major=values["cuda_major"],
            tensorrt_major=values["tensorrt_major"],
            python_version=values["python_version"],
            dali_version=values["dali_version"],
            dali_package=values["dali_package"],
            dali_path=PurePosixPath(values["dali_path"]),
            cupy_package=values["cupy_package"],
            trtexec=PurePosixPath(values["trtexec"]),
            has_libgl=values["has_libgl"],
            cuda_memory_pool_default_bytes=values["cuda_memory_pool_default_bytes"],
            python_packages=tuple(values["python_packages"]),
            facts=tuple(facts),
        )


@cache
def production_image() -> ProductionImage:
    """The facts of ``production_image.toml``, read once."""
    return ProductionImage.parse(resources.files(__package__).joinpath(FACTS_FILE).read_text())
