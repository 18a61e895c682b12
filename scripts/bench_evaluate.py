"""How fast does `midigen evaluate` score, next to how fast the same model trains?

One run: the model (default: the shipped one) trains --steps steps on a
prepared copy of the corpus (batch 32, bptt 128, the precision `train` picks),
then `TrainedModel.evaluate` scores the dataset's validation split and, for a
larger sample, every piece of its training split.  DESIGN §6: evaluation at
least 3x the training tokens/s.  Medians of --runs runs.

    python scripts/bench_evaluate.py [--model models/default] [--steps 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
