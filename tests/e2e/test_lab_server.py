"""The project copy the browser tests run in: never a developer's key, environment or history."""

from __future__ import annotations

from pathlib import Path

from lab_server import copy_project


def test_project_copy_leaves_out_keys_and_environments(tmp_path: Path) -> None:
    source = tmp_path / "project"
    for name in (
        ".env",
        ".env.local",
        ".env.example",
        ".venv/bin/python",
        ".git/HEAD",
        "helpers/keys.py",
        "notebooks/.ipynb_checkpoints/01-checkpoint.ipynb",
        "notebooks/01.ipynb",
    ):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text("x")

    copy = copy_project(source, tmp_path / "copy")

    copied = sorted(p.relative_to(copy).as_posix() for p in copy.rglob("*") if p.is_file())
    assert copied == [".env.example", "helpers/keys.py", "notebooks/01.ipynb"]
