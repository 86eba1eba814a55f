"""What the container images' entry points import, they hold: checked without Docker.

Each image's Python packages are derived from its Dockerfile (``tests/container_env.py``: its
``pip install`` lines with their dependencies, plus what the NGC base image carries), and the entry
points run in a ``python -I`` that sees only those packages and this checkout's ``src``:

* the builder image: ``triton-detect build --help`` and a real offline build of ``yolo26n.yaml``,
  then the imports of the engine build (ModelOpt AutoCast, NVML, Ultralytics' engine code);
* the server image: every ``model.py``'s and ``dali.py``'s module-level imports.

Inside the container a model.py runs in Triton's Python with the shared ``yolo26_triton`` package
installed; torch, Ultralytics, tritonclient, OpenCV and the client/builder code are not there.
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from yolo26_triton.export.production_image import production_image
from yolo26_triton.export.repository import copy_templates

from ..container_env import OUR_SOURCES, image_distributions, run_in_image, run_with_packages

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
REPOSITORY = ROOT / "model_repository"
MODEL_FILES = sorted(REPOSITORY.glob("*/1/model.py"))
DALI_FILE = REPOSITORY / "preprocess" / "1" / "dali.py"
BUILDER_IMAGE = ROOT / "container" / "builder.Dockerfile"
SERVER_IMAGE = ROOT / "container" / "triton.Dockerfile"

ONLY_INSIDE_TRITON = "triton_python_backend_utils"
NOT_IN_CONTAINER = (
    "torch",
    "torchvision",
    "ultralytics",
    "tritonclient",
    "cv2",
    "yolo26_triton.client",
    "yolo26_triton.export.builder",
)
LAZY_IMPORTS_ALLOWED = {"cupy"}  # imported inside initialize() on KIND_GPU only
ENGINE_BUILD_IMPORTS = ("modelopt.onnx.autocast", "pynvml", "ultralytics.utils.export.engine", "onnxruntime")
"""What ``build --engine`` imports besides TensorRT (installed from the image's own $TRT_VERSION)."""
OFFLINE = {"YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "false"}
"""Ultralytics neither downloads nor pip-installs what is missing: a missing package fails the run."""

IMPORT_AND_REPORT = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
import yolo26_triton
print(json.dumps({"modules": sorted(sys.modules), "path": sys.path, "package": list(yolo26_triton.__path__)}))
"""


@pytest.fixture(scope="module")
def builder_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("builder-image") / "site-packages"


@pytest.fixture(scope="module")
def server_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("server-image") / "site-packages"


def in_image(
    dockerfile: Path, site: Path, code: str, argv: list[str], **options: object
) -> subprocess.CompletedProcess[str]:
    completed = run_in_image(dockerfile, code, site, argv=argv, **options)  # type: ignore[arg-type]
    assert completed.returncode == 0, (
        f"exit {completed.returncode}\n{completed.stdout[-2000:]}\n{completed.stderr[-4000:]}"
    )
    return completed


def test_builder_cli_runs_with_the_builder_image_packages(builder_site: Path) -> None:
    completed = in_image(
        BUILDER_IMAGE,
        builder_site,
        "import sys\nfrom yolo26_triton.cli.app import main\nsys.exit(main())",
        ["build", "--help"],
    )
    assert "--engine" in completed.stdout


def test_builder_builds_offline_with_the_builder_image_packages(builder_site: Path, tmp_path: Path) -> None:
    """The real ``build`` of an untrained YAML model, then the engine build's imports."""
    repository = tmp_path / "model_repository"
    copy_templates(REPOSITORY, repository)
    code = (
        "import importlib, sys\nfrom yolo26_triton.cli.app import main\nexit_code = main(sys.argv[1:])\n"
        f"for name in {ENGINE_BUILD_IMPORTS!r}:\n    importlib.import_module(name)\nsys.exit(exit_code)"
    )
    in_image(
        BUILDER_IMAGE,
        builder_site,
        code,
        ["build", "--weights", "yolo26n.yaml", "--repository", str(repository)],
        environment=OFFLINE,
    )
    assert (repository / "yolo26" / "1" / "model.onnx").is_file()
    assert (repository / "yolo26" / "1" / "metadata.json").is_file()


def test_builder_image_cv2_needs_no_libgl() -> None:
    """Ultralytics imports cv2 at once; ``opencv-python`` needs libGL.so.1, which the image lacks."""
    distributions = image_distributions(BUILDER_IMAGE)
    assert "ultralytics" in distributions
    if not production_image().has_libgl:
        assert "opencv-python" not in distributions
        assert "opencv-python-headless" in distributions


def loaded(modules: list[str], name: str) -> bool:
    return any(module == name or module.startswith(name + ".") for module in modules)


def model_imports(path: Path) -> tuple[list[str], set[str]]:
    """(modules imported at module level, top-level names imported inside functions) of a model.py."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module_level: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            module_level.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module, f"{path}: relative import"
            module_level.append(node.module)
    nested = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import) and node not in tree.body
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node not in tree.body and node.module
    }
    return module_level, nested


def test_every_model_py_is_checked() -> None:
    assert {path.parents[1].name for path in MODEL_FILES} == {
        "validate",
        "preprocess",
        "yolo26",
        "postprocess",
    }


@pytest.mark.parametrize(
    "model_file", [*MODEL_FILES, DALI_FILE], ids=lambda path: f"{path.parents[1].name}/{path.name}"
)
def test_model_files_import_only_what_the_server_image_has(model_file: Path, server_site: Path) -> None:
    module_level, nested = model_imports(model_file)
    if model_file.name == "model.py":
        assert ONLY_INSIDE_TRITON in module_level
    assert any(name.startswith("yolo26_triton.") for name in module_level)
    assert nested <= LAZY_IMPORTS_ALLOWED, nested
    to_import = [name for name in module_level if name != ONLY_INSIDE_TRITON]

    completed = in_image(SERVER_IMAGE, server_site, IMPORT_AND_REPORT, to_import)
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    assert result["path"][:2] == [str(source) for source in OUR_SOURCES]
    # this checkout's two portions of the namespace, not another copy
    assert result["package"] == [str(source / "yolo26_triton") for source in OUR_SOURCES]
    for name in to_import:
        assert name in result["modules"], name
    leaked = [name for name in NOT_IN_CONTAINER if loaded(result["modules"], name)]
    assert leaked == [], f"{model_file.relative_to(ROOT)} pulls in {leaked}"


def test_gpu_postprocess_math_needs_numpy_alone(tmp_path: Path) -> None:
    """Modules detections, letterbox and metadata import and run with NumPy alone (no DALI, onnxruntime)."""
    modules = ["yolo26_triton.ops.detections", "yolo26_triton.ops.letterbox", "yolo26_triton.ops.metadata"]
    code = IMPORT_AND_REPORT.replace(
        "print(json.dumps({",
        """import numpy as np
from yolo26_triton.ops.detections import DetectionSettings, detections_in_original_pixels
raw = np.zeros((300, 6), np.float32)
raw[0] = [100, 140, 300, 500, 0.9, 3]
boxes, scores, class_ids = detections_in_original_pixels(raw, (720, 1280), DetectionSettings(), 640, np)
print(json.dumps({"extra": [boxes.tolist(), scores.tolist(), class_ids.tolist()],""",
    )

    completed = run_with_packages({"numpy"}, code, tmp_path / "site-packages", argv=modules)
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout.strip().splitlines()[-1])

    for name in modules:
        assert name in result["modules"], name
    third_party = {
        name.split(".")[0]
        for name in result["modules"]
        if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("_")
    }
    # cython_runtime: the module object Cython-compiled extensions (NumPy's) register, not a package.
    assert third_party <= {"numpy", "yolo26_triton", "cython_runtime"}, third_party
    for name in ("nvidia", "nvidia.dali", "onnxruntime", "cupy", *NOT_IN_CONTAINER):
        assert not loaded(result["modules"], name), name
    boxes, scores, class_ids = result["extra"]
    assert boxes == [[200.0, 0.0, 600.0, 720.0]]
    assert scores == [pytest.approx(0.9)]
    assert class_ids == [3]
