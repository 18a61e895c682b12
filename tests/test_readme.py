"""The README's examples run as written: the Quick start's main job and every `$ midigen` line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def quick_start_commands() -> list[str]:
    """The midigen parts of the Quick start's first command (the install needs the network)."""
    block = re.search(r"## Quick start\s+```\n(.*?)```", README, re.S).group(1)
    first = block.splitlines()[0]
    return [part.strip() for part in first.split("&&") if part.strip().startswith("midigen")]


def fenced_lines() -> list[str]:
    """The lines inside the README's fenced code blocks."""
    inside, lines = False, []
    for line in README.splitlines():
        if line.startswith("```"):
            inside = not inside
        elif inside:
            lines.append(line)
    return lines


def example_commands() -> list[str]:
    """Every `$ midigen ...` line of the README's fenced blocks, in order, comments dropped."""
    lines = fenced_lines()
    return [re.sub(r"\s+#.*$", "", line[2:]) for line in lines if line.startswith("$ midigen")]


def test_the_readme_has_examples_to_run():
    assert quick_start_commands() == ["midigen generate -o song.mid"]
    assert len(example_commands()) >= 8


@pytest.mark.skipif(shutil.which("midigen") is None, reason="the midigen command is not installed")
def test_every_example_runs_as_written(tmp_path):
    for folder in ("samples", "models"):  # the examples run from the repository root
        (tmp_path / folder).symlink_to(REPO / folder)
    environment = {k: v for k, v in os.environ.items() if k != "MIDIGEN_MODEL"}
    for command in [*quick_start_commands(), *example_commands()]:
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=tmp_path,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        # `| head` closes the pipe early, which midigen answers quietly with status 1
        assert done.returncode == 0 or "| head" in command, f"{command}\n{done.stderr}"
        assert not done.stderr.startswith("error:"), f"{command}\n{done.stderr}"
    for name in ("song.mid", "song.wav", "song.opus", "song.png", "ideas-4.png", "more.mid"):
        assert (tmp_path / name).stat().st_size > 0, name


def python_blocks() -> list[str]:
    """The README's ```python blocks."""
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_every_python_example_runs_as_written(tmp_path, monkeypatch):
    """From a folder of the user's own (the shipped model is found from anywhere)."""
    (tmp_path / "samples").symlink_to(REPO / "samples")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIDIGEN_MODEL", raising=False)
    blocks = python_blocks()
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})
    assert (tmp_path / "song.mid").stat().st_size > 0
