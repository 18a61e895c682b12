"""Work spread over processes: results in order, and a Ctrl-C that ends the command."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from midigen.workers import process_map

DATA = Path(__file__).parent / "data"


def square(number: int) -> int:
    return number * number


def test_results_come_in_order_in_chunks_over_two_workers():
    assert list(process_map(square, range(23), workers=2, chunksize=4)) == [
        n * n for n in range(23)
    ]
    assert list(process_map(square, [], workers=2)) == []


def test_closing_early_starts_no_more_work():
    results = process_map(square, range(10_000), workers=2, chunksize=1)
    assert [next(results) for _ in range(3)] == [0, 1, 4]
    results.close()  # waits for the chunks in hand only, or this test would take long


def test_a_double_ctrl_c_ends_a_folder_tokenize_with_nothing_half_written(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for copy in range(3000):
        shutil.copy(DATA / "pymidi_mary.mid", corpus / f"mary{copy}.mid")
    out = tmp_path / "tokens"
    command = [sys.executable, "-m", "midigen", "tokenize", str(corpus), "-o", str(out)]
    process = subprocess.Popen(
        [*command, "--jobs", "2"], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and any(out.iterdir())) and time.monotonic() < deadline:
        time.sleep(0.01)
    for _ in range(2):  # Ctrl-C at a terminal signals every process; an impatient user twice
        os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=60)  # it had hung, or printed workers' tracebacks
    assert process.returncode == 130
    assert stderr.splitlines()[-1] == "error: interrupted; no file was left half-written"
    assert "Traceback" not in stderr
    written = list(out.iterdir())
    assert 0 < len(written) < 3000
    assert all(path.suffix == ".txt" for path in written)
