"""The model.py files import only what the NGC container has.

Inside the container a model.py runs in Triton's Python with the shared ``yolo26_triton`` package
mounted; torch, Ultralytics, tritonclient, OpenCV and the client/builder code are not there. Each
check runs in a fresh ``python -I`` (isolated: no PYTHONPATH, no user site) whose ``sys.path`` is
set explicitly, and looks at ``sys.modules`` after the imports.
"""

import ast
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
REPOSITORY = ROOT / "model_repository"
MODEL_FILES = sorted(REPOSITORY.glob("*/1/model.py"))
SITE_PACKAGES = sysconfig.get_paths()["purelib"]

ONLY_INSIDE_TRITON = "triton_python_backend_utils"
NOT_IN_CONTAINER = (
    "torch",
    "torchvision",
    "ultralytics",
    "tritonclient",
    "cv2",
    "yolo26_triton.client",
    "yolo26_triton.builder",
)
LAZY_IMPORTS_ALLOWED = {"cupy"}  # imported inside initialize() on KIND_GPU only

CHILD = """
import importlib, json, sys
config = json.loads(sys.argv[1])
stdlib = [path for path in sys.path if path.startswith(sys.base_prefix)]
sys.path[:] = config["front"] + stdlib + config["site"]
for name in config["modules"]:
    importlib.import_module(name)
namespace = {}
exec(config["extra"], namespace)
import yolo26_triton
print(json.dumps({
    "modules": sorted(sys.modules),
    "path": sys.path,
    "package": yolo26_triton.__file__,
    "extra": namespace.get("result"),
}))
"""


def run_isolated(modules: list[str], front: list[Path], site: list[str], extra: str = "") -> dict:
    """Imports ``modules`` in ``python -I`` with ``sys.path = front + stdlib + site``."""
    config = {"modules": modules, "front": [str(path) for path in front], "site": site, "extra": extra}
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    completed = subprocess.run(
        [sys.executable, "-I", "-c", CHILD, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=120,
        env=environment,
        cwd=str(ROOT / "tests"),
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


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


@pytest.mark.parametrize("model_file", MODEL_FILES, ids=lambda path: path.parents[1].name)
def test_model_py_imports_only_what_the_container_has(model_file: Path) -> None:
    module_level, nested = model_imports(model_file)
    assert ONLY_INSIDE_TRITON in module_level
    assert any(name.startswith("yolo26_triton.ops") for name in module_level)
    assert nested <= LAZY_IMPORTS_ALLOWED, nested
    to_import = [name for name in module_level if name != ONLY_INSIDE_TRITON]

    result = run_isolated(to_import, front=[SRC, model_file.parent], site=[SITE_PACKAGES])

    assert result["path"][:2] == [str(SRC), str(model_file.parent)]
    assert result["package"] == str(SRC / "yolo26_triton" / "__init__.py")  # this checkout, not another
    for name in to_import:
        assert name in result["modules"], name
    leaked = [name for name in NOT_IN_CONTAINER if loaded(result["modules"], name)]
    assert leaked == [], f"{model_file.relative_to(ROOT)} pulls in {leaked}"


def test_gpu_postprocess_math_needs_numpy_alone(tmp_path: Path) -> None:
    """Modules detections, letterbox and metadata import and run with NumPy alone (no DALI, onnxruntime)."""
    import numpy

    site = tmp_path / "site-packages"
    site.mkdir()
    numpy_dir = Path(numpy.__file__).parent
    for entry in (numpy_dir, numpy_dir.parent / "numpy.libs"):
        if entry.exists():
            (site / entry.name).symlink_to(entry)
    modules = ["yolo26_triton.ops.detections", "yolo26_triton.ops.letterbox", "yolo26_triton.ops.metadata"]
    extra = """
import numpy as np
from yolo26_triton.ops.detections import DetectionSettings, detections_in_original_pixels
raw = np.zeros((300, 6), np.float32)
raw[0] = [100, 140, 300, 500, 0.9, 3]
boxes, scores, class_ids = detections_in_original_pixels(raw, (720, 1280), DetectionSettings(), 640, np)
result = [boxes.tolist(), scores.tolist(), class_ids.tolist()]
"""

    result = run_isolated(modules, front=[SRC], site=[str(site)], extra=extra)

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
