"""How fast does midigen generate, next to a plain nn.LSTM sampling loop?

Both sample one stream token by token from the same trained model: the naive
loop calls the PyTorch module once per token (the usual way), midigen runs
its NumPy stepper with the grammar masks.  Then it times what a user waits
for: 60 seconds of music, model already loaded.  Medians of several runs.

    python scripts/bench_generate.py [--model models/default] [--tokens 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

from midigen.model.sample import Length, Sampling, sample_tokens
from midigen.model.trained import load_model

REPO = Path(__file__).resolve().parent.parent


@torch.inference_mode()
def naive_tokens_per_second(network, tokens: int) -> float:
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([[3]])
    state = None
    started = time.perf_counter()
    for _ in range(tokens):
        logits, state = network(ids, state)
        probabilities = torch.softmax(logits[0, -1], dim=-1)
        ids = torch.multinomial(probabilities, 1, generator=generator).view(1, 1)
    return tokens / (time.perf_counter() - started)


def midigen_tokens_per_second(model, tokens: int) -> float:
    started = time.perf_counter()
    streams = sample_tokens(
        model.stepper,
        model.vocab,
        ["EVENT_24"],
        length=Length(tokens, "tokens"),
        sampling=Sampling(top_p=0.95),
        seed=0,
    )
    return (len(streams[0]) - 1) / (time.perf_counter() - started)


def seconds_for_a_minute(model) -> float:
    started = time.perf_counter()
    model.generate(length="60s", seed=0)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=REPO / "models" / "default")
    parser.add_argument("--tokens", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    model = load_model(args.model)
    naive, ours, minute = [], [], []
    for _ in range(max(args.runs, 1)):
        naive.append(naive_tokens_per_second(model.network, args.tokens))
        ours.append(midigen_tokens_per_second(model, args.tokens))
        minute.append(seconds_for_a_minute(model))
    config = model.config["model"]
    print(
        f"model {args.model}: {config['cell']} H{config['hidden']} L{config['layers']}, "
        f"{torch.get_num_threads()} threads; median of {len(ours)} runs"
    )
    print(f"{'sampler':<34} {'tokens/s':>10}")
    print(f"{'naive nn.LSTM step loop':<34} {statistics.median(naive):>10,.0f}")
    print(f"{'midigen (NumPy stepper + grammar)':<34} {statistics.median(ours):>10,.0f}")
    print(
        f"midigen / naive: {statistics.median(ours) / statistics.median(naive):.2f}; "
        f"60 s of music in {statistics.median(minute):.2f} s (target < 2 s, >= 2,000 tokens/s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
