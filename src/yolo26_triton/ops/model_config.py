"""What a Python-backend model reads from Triton in ``initialize``: its configuration, once parsed.

Every ``model_repository/*/1/model.py`` starts with::

    config, parameters = read_model_config(args)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def read_model_config(args: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The model's configuration and its ``parameters`` section, from ``initialize``'s ``args``.

    Args:
        args: What Triton passes to ``TritonPythonModel.initialize``; ``args["model_config"]`` is the
            model's configuration as JSON.

    Returns:
        The parsed configuration, and its ``parameters`` as ``name -> string_value`` (absent: empty).
    """
    config: dict[str, Any] = json.loads(args["model_config"])
    parameters = {key: value["string_value"] for key, value in config.get("parameters", {}).items()}
    return config, parameters
