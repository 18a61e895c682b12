"""How fast does `midigen evaluate` score, next to how fast the same model trains?

One run: the model (default: the shipped one) trains --steps steps on a
prepared copy of the corpus (batch 32, bptt 128, the precision `train` picks),
then `TrainedModel.evaluate` scores the dataset's validation split and, for a
larger sample, every piece of its training split.  DESIGN §6: evaluation at
least 3x the training tokens/s.  Medians of --runs runs.

Then the validation split again beside a busy process (a Python loop, as a
user's other program): on the threads evaluation chooses by timing its
windows (ThreadTrials), and on torch's own count, which a busy core can make
crawl.

    python scripts/bench_evaluate.py [--model models/default] [--steps 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared_corpus import shared_corpus

from midigen.data.dataset import PrepareConfig, dataset_from, prepare
from midigen.model import default_model
from midigen.model.evaluate import evaluate_split
from midigen.model.network import uses_bf16
from midigen.model.train import TrainConfig, train
from midigen.model.trained import EVAL_BATCH, EVAL_BPTT, load_model

WARMUP_STEPS = 3


def training_tokens_per_second(data: Path, architecture: dict, steps: int) -> float:
    stamps: list[float] = []
    config = TrainConfig(steps=steps + WARMUP_STEPS, eval_every=10**9, checkpoint_seconds=10**9)
    with tempfile.TemporaryDirectory() as folder:
        train(
            data,
            Path(folder) / "m",
            config,
            architecture,
            progress=lambda *_: stamps.append(time.perf_counter()),
        )
    return steps * config.batch_size * config.bptt / (stamps[-1] - stamps[WARMUP_STEPS - 1])


def seconds_beside_a_busy_process(score) -> float:
    """How long ``score()`` takes while another process keeps a core busy."""
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)  # scheduled and spinning
        started = time.perf_counter()
        score()
        return time.perf_counter() - started
    finally:
        busy.kill()
        busy.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--corpus", type=Path, default=shared_corpus("real"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = load_model(args.model)
    shape = {k: v for k, v in model.architecture.to_dict().items() if k != "vocab_size"}
    import torch

    bf16 = uses_bf16("auto", torch.device("cpu"))
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        prepare([args.corpus], data, PrepareConfig(), jobs=0)
        training, valid, whole = [], [], []
        for _ in range(args.runs):
            training.append(training_tokens_per_second(data, shape, args.steps))
            started = time.perf_counter()
            metrics = model.evaluate(data)
            valid.append(metrics.tokens / (time.perf_counter() - started))
            with dataset_from(data) as dataset:
                started = time.perf_counter()
                scored = evaluate_split(
                    model.network, dataset, "train", EVAL_BPTT, EVAL_BATCH, bf16=bf16
                )
                whole.append(scored.tokens / (time.perf_counter() - started))
        with dataset_from(data) as dataset:
            loaded = {
                tuned: seconds_beside_a_busy_process(
                    lambda tuned=tuned: evaluate_split(
                        model.network,
                        dataset,
                        "valid",
                        EVAL_BPTT,
                        EVAL_BATCH,
                        bf16=bf16,
                        tune_threads=tuned,
                    )
                )
                for tuned in (False, True)
            }
    base = statistics.median(training)
    print(f"model {args.model}: {shape['cell']} H{shape['hidden']} L{shape['layers']}; "
          f"{'bf16' if bf16 else 'fp32'}; median of {args.runs} runs")  # fmt: skip
    print(f"{'':<46} {'tokens/s':>10} {'vs training':>12}")
    print(f"{'training (batch 32, bptt 128)':<46} {base:>10,.0f} {1:>11.2f}x")
    for label, rates, tokens in (
        ("evaluate, validation split", valid, metrics.tokens),
        ("evaluate, training split", whole, scored.tokens),
    ):
        rate = statistics.median(rates)
        print(f"{label + f' ({tokens:,} tokens)':<46} {rate:>10,.0f} {rate / base:>11.2f}x")
    print("target: evaluation >= 3x training")
    print(
        f"beside a busy process, the validation split: {loaded[True]:.1f} s on the threads "
        f"it chose, {loaded[False]:.1f} s on torch's own {torch.get_num_threads()}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
