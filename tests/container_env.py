"""An image's Python packages, derived from its Dockerfile, and a Python that sees only those.

No Docker engine runs on our machines, so a container image's Python is approximated here: the
distributions its Dockerfile installs (its ``pip install`` and ``pip uninstall`` lines, in order,
each with the dependencies pip would add unless ``--no-deps``), plus what the NGC base image
carries (``production_image.toml``: ``python_packages`` and the DALI backend's DALI on
PYTHONPATH). Dependencies are read from the metadata of this environment's installed copies, with
markers evaluated for the image's Python version.

:func:`image_site` then lays out a ``site-packages`` folder of symbolic links to exactly those
distributions' files in this environment, and :func:`run_in_image` runs Python code with that
folder as its only third-party location (``python -I``: no PYTHONPATH, no user site). A module the
image lacks then fails to import here as it would there, and so does its metadata lookup.

Where the image installs a different build of the same modules than this environment
(:data:`SAME_MODULES`: the headless OpenCV, DALI or CuPy for another CUDA), this environment's
build stands in for it.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from yolo26_triton.export.production_image import production_image

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
CLIENT_SRC = ROOT / "client" / "src"
PROJECT = "yolo26-triton"
CLIENT_PROJECT = "yolo26-triton-client"
OUR_SOURCES = (SRC, CLIENT_SRC)
"""This checkout's two portions of the ``yolo26_triton`` namespace (the images install both)."""
SAME_MODULES = {
    "opencv-python-headless": "opencv-python",  # cv2 without the GUI libraries (libGL)
    "nvidia-dali-cuda130": "nvidia-dali-cuda120",  # nvidia.dali for CUDA 13 / 12
    "cupy-cuda13x": "cupy-cuda12x",
}
"""Image distribution -> the distribution of this environment that provides the same modules."""
_OPTIONS_WITH_VALUE = frozenset(
    {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint", "-r",
     "--requirement", "--target", "-t", "--prefix", "--root", "--upgrade-strategy", "--python-version",
     "--platform", "--implementation", "--abi", "--only-binary", "--no-binary", "--progress-bar"}
)  # fmt: skip
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[([^\]]*)\])?")
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class PipStep:
    """One ``pip install`` or ``pip uninstall`` of a Dockerfile ``RUN`` line.

    Attributes:
        action: ``install`` or ``uninstall``.
        requirements: What it names, ``name[extras]`` with versions dropped; the project itself for a
            local path.
        with_dependencies: False for ``--no-deps`` (and for uninstall).
    """

    action: str
    requirements: tuple[Requirement, ...]
    with_dependencies: bool


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
        else:
            lines.append(current + stripped)
            current = ""
    return lines


def _commands(shell: str) -> list[list[str]]:
    """The simple commands of a shell line (split at ``&&``, ``||``, ``;``, ``|``), quotes respected."""
    lexer = shlex.shlex(shell, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token and set(token) <= set("&|;()"):
            commands.append([])
        else:
            commands[-1].append(token)
    return [command for command in commands if command]


def dockerfile_arguments(dockerfile: Path) -> dict[str, str]:
    """The Dockerfile's ``ARG NAME=default`` values."""
    arguments = {}
    for line in _logical_lines(dockerfile.read_text()):
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "ARG" and "=" in rest:
            name, _, value = rest.strip().partition("=")
            arguments[name] = value
    return arguments


def pip_steps(dockerfile: Path) -> list[PipStep]:
    """The ``pip install``/``pip uninstall`` commands of the Dockerfile's ``RUN`` lines, in order.

    ``${ARG}`` values are substituted; a variable without an ``ARG`` default (set by the base image)
    stays as written, and only the requirement's name before it is kept.
    """
    arguments = dockerfile_arguments(dockerfile)
    steps = []
    for line in _logical_lines(dockerfile.read_text()):
        instruction, _, command = line.partition(" ")
        if instruction.upper() != "RUN":
            continue
        for words in _commands(command):
            if "pip" not in words:
                continue
            action_index = words.index("pip") + 1
            action = words[action_index] if action_index < len(words) else ""
            if action not in ("install", "uninstall"):
                continue
            options = words[action_index + 1 :]
            names: list[Requirement] = []
            skip_next = False
            for word in options:
                if skip_next:
                    skip_next = False
                elif word.startswith("-"):
                    skip_next = word in _OPTIONS_WITH_VALUE
                elif word.startswith(("/", ".")):
                    names.append(
                        Requirement(CLIENT_PROJECT if word.rstrip("/").endswith("/client") else PROJECT)
                    )
                else:
                    value = _VARIABLE.sub(lambda match: arguments.get(match[1] or match[2], "\0"), word)
                    match = _NAME.match(value.split("\0")[0])
                    if not match:
                        raise ValueError(f"{dockerfile}: cannot read a requirement from {word!r}")
                    names.append(Requirement(match[0]))
            steps.append(PipStep(action, tuple(names), "--no-deps" not in options and action == "install"))
    return steps


def _installed(name: str) -> metadata.Distribution | None:
    try:
        return metadata.distribution(SAME_MODULES.get(name, name))
    except metadata.PackageNotFoundError:
        return None


def _with_dependencies(requirements: list[Requirement]) -> set[str]:
    """The canonical names of ``requirements`` and, transitively, of what their installed copies need."""
    environment: dict[str, str] = dict(default_environment())
    image_python = production_image().python_version
    environment.update(python_version=image_python, python_full_version=f"{image_python}.0")
    names: set[str] = set()
    pending = list(requirements)
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        extras = tuple(sorted(requirement.extras))
        key = f"{name}[{','.join(extras)}]"
        if key in names:
            continue
        names.add(key)
        distribution = _installed(name)
        for text in (distribution.requires or []) if distribution else []:
            dependency = Requirement(text)
            if dependency.marker is None or any(
                dependency.marker.evaluate({**environment, "extra": extra}) for extra in ("", *extras)
            ):
                pending.append(dependency)
    return {key.split("[")[0] for key in names}


def image_distributions(dockerfile: Path) -> set[str]:
    """Canonical names of the distributions an image built from ``dockerfile`` holds."""
    facts = production_image()
    base = [Requirement(name) for name in (*facts.python_packages, facts.dali_package)]
    distributions = _with_dependencies(base)
    for step in pip_steps(dockerfile):
        named = {canonicalize_name(requirement.name) for requirement in step.requirements}
        if step.action == "uninstall":
            distributions -= named
        elif step.with_dependencies:
            distributions |= _with_dependencies(list(step.requirements))
        else:
            distributions |= named
    return distributions


def image_site(distributions: set[str], destination: Path) -> Path:
    """A ``site-packages`` of symbolic links to the files of ``distributions`` in this environment.

    Folders that several distributions share (namespace packages such as ``nvidia``) are made real
    and filled one level down. Our own two distributions are left out (the caller puts their sources first).
    """
    site_packages = Path(sysconfig.get_paths()["purelib"])
    owners: dict[str, set[str]] = {}
    entries: dict[str, set[tuple[str, ...]]] = {}
    for distribution in metadata.distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        for file in distribution.files or []:
            parts = file.parts
            if parts[0] in ("..", "__pycache__") or "__pycache__" in parts[:2]:
                continue
            owners.setdefault(parts[0], set()).add(name)
            entries.setdefault(name, set()).add(parts[:2])
    wanted = {SAME_MODULES.get(name, name) for name in distributions} - {PROJECT, CLIENT_PROJECT}
    destination.mkdir(parents=True, exist_ok=True)
    for name in sorted(wanted & set(entries)):
        for parts in entries[name]:
            top = parts[0]
            if len(owners[top]) > 1 and len(parts) > 1:
                (destination / top).mkdir(exist_ok=True)
                link, target = destination / top / parts[1], site_packages / top / parts[1]
            else:
                link, target = destination / top, site_packages / top
            if not link.exists() and (target.exists() or target.is_symlink()):
                link.symlink_to(target)
    return destination


CHILD = """
import json, os, sys
config = json.loads(os.environ["IMAGE_CHILD_CONFIG"])
stdlib = [path for path in sys.path if path.startswith(sys.base_prefix)]
sys.path[:] = config["front"] + stdlib + [config["site"]]
sys.argv = ["-c", *config["argv"]]
exec(compile(config["code"], "<image-child>", "exec"), {"__name__": "__main__"})
"""


def run_in_image(
    dockerfile: Path, code: str, site_folder: Path, **options: object
) -> subprocess.CompletedProcess[str]:
    """:func:`run_with_packages` with the distributions of the image built from ``dockerfile``."""
    if not site_folder.exists():
        image_site(image_distributions(dockerfile), site_folder)
    return run_with_packages(set(), code, site_folder, **options)  # type: ignore[arg-type]


def run_with_packages(
    distributions: set[str],
    code: str,
    site_folder: Path,
    *,
    front: list[Path] | None = None,
    argv: list[str] | None = None,
    timeout_s: float = 300,
    environment: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Runs ``code`` in a Python that sees this checkout's ``src`` (and ``front``) and ``distributions``.

    Args:
        distributions: Canonical names of the distributions the code may import.
        code: Python source run as ``__main__``.
        site_folder: Where to lay out their ``site-packages`` (made once, reused if present).
        front: More folders to put first on ``sys.path``.
        argv: ``sys.argv[1:]`` of the code.
        timeout_s: Time limit of the run.
        environment: More environment variables.
    """
    if not site_folder.exists():
        image_site(distributions, site_folder)
    config = {
        "front": [*map(str, OUR_SOURCES), *(str(path) for path in front or [])],
        "site": str(site_folder),
        "code": code,
        "argv": argv or [],
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env.update(environment or {}, IMAGE_CHILD_CONFIG=json.dumps(config), PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run(
        [sys.executable, "-I", "-B", "-c", CHILD],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=str(site_folder.parent),
        check=False,
    )
