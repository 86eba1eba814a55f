"""docker-compose.yml as ``docker compose config`` resolves it, without Docker."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
_VARIABLE = re.compile(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}")


def interpolate(text: str, environment: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if environment.get(name):
            return environment[name]
        if operator == ":?":
            raise ValueError(f"{name}: {argument}")
        return argument or ""

    return _VARIABLE.sub(substitute, text)


def resolved_compose(environment: dict[str, str]) -> dict[str, Any]:
    """The compose file with ``environment`` substituted (defaults elsewhere) and ``<<`` merges done."""
    document: dict[str, Any] = yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), environment))
    return document
