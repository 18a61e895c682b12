"""A built wheel carries the shipped model: `midigen generate` works from any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import midigen

REPO = Path(__file__).resolve().parents[1]


def run(*command: object, cwd: Path | str = "/") -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("MIDIGEN_MODEL", "PYTHONPATH")}
    return subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=environment,
    )


def test_a_wheel_install_generates_music_from_the_root_folder(tmp_path):
    source = tmp_path / "source"  # a copy, so that building leaves the checkout untouched
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("midigen", "models"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    built = run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--no-index", "-w", tmp_path / "wheels", source,
    )  # fmt: skip
    if built.returncode:
        pytest.skip(f"cannot build a wheel offline here: {built.stderr.strip()[-300:]}")
    (wheel,) = (tmp_path / "wheels").glob("midigen-*.whl")
    venv = tmp_path / "venv"
    # The venv sees this interpreter's packages (numpy, mido...) but gets its own midigen.
    assert run(sys.executable, "-m", "venv", "--system-site-packages", venv).returncode == 0
    python = venv / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--no-deps", "--no-index", wheel)
    assert installed.returncode == 0, installed.stderr
    where = run(python, "-c", "import midigen, midigen.cli; print(midigen.cli.default_model())")
    assert where.returncode == 0, where.stderr
    assert (
        str(venv) in where.stdout and (Path(where.stdout.strip()) / "model.safetensors").is_file()
    )
    song = tmp_path / "song.mid"
    generated = run(
        venv / "bin" / "midigen", "generate", "-o", song, "--length", "5s", "--seed", "1"
    )
    assert generated.returncode == 0, generated.stderr
    assert midigen.read(song, strict=True).tracks
