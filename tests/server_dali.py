"""The DALI of the server image's DALI backend, installed beside this environment's for the CPU checks.

The 26.06 image's DALI backend runs DALI 2.1.1 (``production_image.toml``), this environment 2.4.0
(the CPU profile). Their decoders differ (2.1.1's ``fn.decoders.image`` ignores EXIF orientation),
so the GPU pipeline definition is also run on the CPU with the server's version: its wheel, with
the image-codec library it needs, goes into ``.cache/dali-<version>/`` (git-ignored; installed once,
about 670 MB, then reused), and :func:`run_with_server_dali` runs Python code that imports it
instead of this environment's DALI.

    python -m tests.server_dali     # installs it (what the test fixture does on first use)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from yolo26_triton.export.production_image import production_image

ROOT = Path(__file__).resolve().parents[1]
CODEC = "nvidia-nvimgcodec-cu{cuda}"
"""The image-codec library DALI 2.x decodes with (a requirement of the DALI wheel)."""
CODEC_RANGE = ">=0.7.0,<0.8.0"
"""DALI 2.1.1's own requirement on it (its METADATA); checked against the wheel after installing."""


def server_dali_folder() -> Path:
    """``.cache/dali-<version>`` in this checkout."""
    return ROOT / ".cache" / f"dali-{production_image().dali_version}"


def ensure_server_dali() -> Path:
    """Installs the server's DALI into :func:`server_dali_folder` unless it is there; returns the folder.

    ``pip install --target`` into a temporary folder, renamed when complete, so that an interrupted
    install is never taken for a finished one.

    Raises:
        RuntimeError: pip failed, or the codec installed does not satisfy the DALI wheel's requirement.
    """
    facts = production_image()
    folder = server_dali_folder()
    if (folder / "nvidia" / "dali").is_dir():
        return folder
    partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    codec = CODEC.format(cuda=facts.cuda_major)
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(partial),
        f"{facts.dali_package}=={facts.dali_version}", f"{codec}{CODEC_RANGE}",
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-2000:]}")
    installed = {
        distribution.metadata["Name"].lower(): distribution
        for distribution in metadata.distributions(path=[str(partial)])
    }
    dali_requirements = [Requirement(text) for text in installed[facts.dali_package].requires or []]
    wanted = next(requirement for requirement in dali_requirements if requirement.name.lower() == codec)
    if installed[codec].version not in wanted.specifier:
        raise RuntimeError(
            f"{codec} {installed[codec].version} does not satisfy {facts.dali_package}'s {wanted}"
        )
    partial.rename(folder)
    return folder


def autoserialize(module_path: Path, target: Path) -> Path:
    """What the DALI backend does with a ``dali.py`` when no ``model.dali`` exists (the ``python3 -c``
    command of dali_backend r26.06 ``src/model_provider/model_provider.h``), with the DALI imported here."""
    import importlib.util

    from nvidia.dali._utils.autoserialize import invoke_autoserialize

    spec = importlib.util.spec_from_file_location("autoserialize_mod", str(module_path))
    assert spec is not None and spec.loader is not None
    head_module = importlib.util.module_from_spec(spec)
    sys.modules["autoserialize_mod"] = head_module
    spec.loader.exec_module(head_module)
    invoke_autoserialize(head_module, str(target))
    return target


CHILD = """
import json, os, sys
config = json.loads(os.environ["SERVER_DALI_CHILD"])
sys.path[:0] = config["front"]
import nvidia
nvidia.__path__.insert(0, os.path.join(config["dali"], "nvidia"))  # before this environment's nvidia/*
import nvidia.dali
if nvidia.dali.__version__ != config["version"]:
    raise SystemExit(f"DALI {nvidia.dali.__version__} imported, not {config['version']}")
sys.argv = ["-c", *config["argv"]]
exec(compile(config["code"], "<server-dali-child>", "exec"), {"__name__": "__main__"})
"""


def run_with_server_dali(
    code: str, *, argv: list[str] | None = None, front: list[Path] | None = None, timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in this environment's Python with ``nvidia.dali`` being the server's DALI.

    This checkout's ``src`` (and ``front``) come first on ``sys.path``.
    """
    folder = ensure_server_dali()
    config = {
        "front": [str(ROOT / "src"), *(str(path) for path in front or [])],
        "dali": str(folder),
        "version": production_image().dali_version,
        "code": code,
        "argv": argv or [],
    }
    environment = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    environment.update(SERVER_DALI_CHILD=json.dumps(config), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=environment,
        check=False,
    )


if __name__ == "__main__":
    print(json.dumps({"installed": str(ensure_server_dali())}))
