"""The facts of the production image are written once, and everything that repeats one agrees with it.

``src/yolo26_triton/export/production_image.toml`` holds them; the Dockerfiles' ``ARG`` defaults, the
``gpu`` extra, and docs/gpu.md (value and check command of each fact) must say the same. Also here:
each image holds ONE DALI, the DALI backend's own, and the packages both the Dockerfiles and
``pyproject.toml`` pin are pinned alike.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from yolo26_triton.export.production_image import FACTS_FILE, ProductionImage, production_image

from ..container_env import dockerfile_arguments, image_distributions, pip_steps

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "container" / "builder.Dockerfile"
SERVER = ROOT / "container" / "triton.Dockerfile"
DOCS = ROOT / "docs" / "gpu.md"


def test_every_fact_has_a_value_a_source_and_a_check() -> None:
    facts = production_image()
    assert facts.release == "26.06"
    assert {fact.name for fact in facts.facts} >= {"image", "tensorrt_major", "dali_version", "cuda_major"}
    checks = (f"docker run --rm {facts.image}", f"docker image inspect {facts.image}")
    for fact in facts.facts:
        assert fact.source
        assert fact.check.startswith(checks)
    assert facts.dali_package == f"nvidia-dali-cuda{facts.cuda_major}0"
    assert facts.cupy_package == f"cupy-cuda{facts.cuda_major}x"


def test_a_fact_without_its_source_is_refused() -> None:
    text = (ROOT / "src" / "yolo26_triton" / "export" / FACTS_FILE).read_text()
    broken = re.sub(r"(\[tensorrt_major\]\nvalue = 11\n)source = .*\n", r"\1", text)
    with pytest.raises(ValueError, match=r"\[tensorrt_major\] needs value, source and check"):
        ProductionImage.parse(broken)
    with pytest.raises(ValueError, match=r"\[cuda_major\] value must be a int"):
        ProductionImage.parse(text.replace("[cuda_major]\nvalue = 13", '[cuda_major]\nvalue = "13"'))


@pytest.mark.parametrize("dockerfile", [BUILDER, SERVER], ids=["builder", "server"])
def test_dockerfiles_build_from_the_facts_image(dockerfile: Path) -> None:
    assert dockerfile_arguments(dockerfile)["TRITON_IMAGE"] == production_image().image


def test_server_dockerfile_uses_the_facts() -> None:
    facts = production_image()
    arguments = dockerfile_arguments(SERVER)
    assert arguments["CUPY_PACKAGE"] == facts.cupy_package
    assert arguments["DALI_PATH"] == str(facts.dali_path)


def test_builder_dockerfile_uses_the_facts() -> None:
    facts = production_image()
    assert dockerfile_arguments(BUILDER)["CUDA_MAJOR"] == str(facts.cuda_major)
    assert f'ENV PATH="{facts.trtexec.parent}:' in BUILDER.read_text()


@pytest.mark.parametrize("dockerfile", [BUILDER, SERVER], ids=["builder", "server"])
def test_each_image_holds_one_dali_the_backends_own(dockerfile: Path) -> None:
    """A pip DALI beside the backend's would be a second version (the image puts the backend's first on
    PYTHONPATH); the GPU pipeline is serialized and run by the backend's alone."""
    dali = {name for name in image_distributions(dockerfile) if name.startswith("nvidia-dali")}
    assert dali == {production_image().dali_package}


def test_gpu_extra_is_the_images_cupy() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (cupy,) = pyproject["project"]["optional-dependencies"]["gpu"]
    assert Requirement(cupy).name == production_image().cupy_package


def test_dockerfile_pins_equal_the_pyproject_pins() -> None:
    """A version pinned (``==``) in a Dockerfile and in ``pyproject.toml`` is the same version."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [
        *pyproject["dependencies"],
        *(item for extra in pyproject["optional-dependencies"].values() for item in extra),
    ]
    pins = {
        canonicalize_name(requirement.name): str(requirement.specifier)
        for requirement in map(Requirement, declared)
        if str(requirement.specifier).startswith("==")
    }
    compared = 0
    for dockerfile in (BUILDER, SERVER):
        text = dockerfile.read_text()
        for step in pip_steps(dockerfile):
            for requirement in step.requirements:
                name = canonicalize_name(requirement.name)
                pinned = re.search(rf'"{re.escape(requirement.name)}(\[[^\]]*\])?(==[^"]+)"', text)
                if name in pins and pinned:
                    assert pinned[2] == pins[name], (dockerfile.name, name)
                    compared += 1
    assert compared >= 5  # torch, torchvision, ultralytics, nvidia-modelopt, tritonclient


def test_gpu_docs_state_each_fact_and_how_to_check_it() -> None:
    text = DOCS.read_text()
    for fact in production_image().facts:
        if fact.name == "python_packages":
            continue
        value = str(fact.value).lower() if isinstance(fact.value, bool) else str(fact.value)
        assert f"`{value}`" in text, fact.name
        assert fact.check in text, fact.name
