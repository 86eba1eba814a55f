"""The two first-contact failures of issue #14: one line that says what to do, no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from yolo26_triton.cli.app import ExitCode, main


def test_build_into_a_new_folder_says_to_start_from_the_templates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new_folder = tmp_path / "NEW_FOLDER"
    code = main(["build", "--repository", str(new_folder), "--weights", "yolo26n.yaml"])
    err = capsys.readouterr().err
    assert code == ExitCode.FAILED
    assert err.splitlines() == [
        f"error: {new_folder} is not a model repository (no yolo26/config.pbtxt): start from the project's "
        f"templates (cp -r model_repository {new_folder}), or pass --repository with one"
    ]
    assert not new_folder.exists()  # nothing half-built is left behind


def test_serve_outside_the_project_says_what_to_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no model_repository/ here
    code = main(["serve"])
    err = capsys.readouterr().err
    assert code == ExitCode.FAILED
    assert err.splitlines() == [
        f"error: no model repository at {tmp_path.resolve() / 'model_repository'}: run from the project "
        "folder (its model_repository/), or pass --repository FOLDER; `triton-detect build` fills it"
    ]
