"""Reproduce the shipped default model, models/default, from scratch.

Three steps, each a command you could type:

    python scripts/build_corpus.py -o build/default-model/corpus
    midigen prepare build/default-model/corpus -o build/default-model/data \\
        --styles --transpose -5..6
    midigen train build/default-model/data -o models/default --time 155m ...

The corpus is in style folders, each a STYLE_ token the model is conditioned on (prepare
--styles): pop (POP909 songs), folk (Nottingham tunes), classical (music21's bundled
scores as multi-instrument MIDI), band (shared real files with drums and several
instruments) and piano (shared real piano files); see build_corpus.py.  Training is
CPU-only and takes the given time on 2 cores, in bf16 where the CPU has it (--precision
auto; the shipped model was trained so) and in fp32 elsewhere, which sees fewer tokens in
the same time; a longer --time (or --resume) gives a better model.

    python scripts/train_default.py [--work DIR] [--time 155m] [--output models/default]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPE = [
    *("--hidden", "512", "--embed", "256", "--layers", "2", "--dropout", "0.1"),
    *("--bptt", "128", "--batch-size", "32", "--lr", "2e-3", "--warmup", "1000"),
    *("--eval-every", "1000", "--precision", "auto", "--seed", "1234"),
]


def run(command: list[str]) -> None:
    """Run from the repository root, so that the paths config.json records are relative."""
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("build") / "default-model")
    parser.add_argument("--time", default="155m", help="training time, e.g. 155m or 2h")
    parser.add_argument("--output", type=Path, default=Path("models") / "default")
    parser.add_argument("--jobs", default="2")
    args = parser.parse_args()
    corpus, data = args.work / "corpus", args.work / "data"
    run(
        [
            sys.executable,
            str(Path("scripts") / "build_corpus.py"),
            "-o",
            str(corpus),
            "--jobs",
            args.jobs,
        ]
    )
    run(["midigen", "prepare", str(corpus), "-o", str(data), "--styles", "--transpose", "-5..6"])
    run(["midigen", "train", str(data), "-o", str(args.output), "--time", args.time, *RECIPE])
    return 0


if __name__ == "__main__":
    sys.exit(main())
