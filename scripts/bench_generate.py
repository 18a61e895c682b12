"""How fast does midigen generate: start-up, and tokens/s for 1, 4 and 16 streams?

Three questions, each measured in the same run (medians of several runs):

- Start-up: `midigen generate -o x.mid --length 1s` as a new process, the
  way a musician or a DAW script calls it.  "torch path" is what generation
  cost before it ran without torch: the same command with torch imported and
  the weights loaded into the PyTorch network, then copied to the NumPy
  stepper (as midigen did up to 0.1.0).
- Tokens/s for 1, 4 and 16 streams sampled as one batch (``--num``), against
  a plain nn.LSTM sampling loop that calls the PyTorch module once per token.
- 60 s of music, model already loaded: what a user waits for.
- The ceiling for batches: the network's arithmetic per token, the bare
  stepper (no sampler) on 1 and 16 streams, and this machine's peak rate
  for an fp32 matrix product (a large square one, which BLAS runs nearest
  its peak).  16 streams cannot run faster than peak / arithmetic per token,
  however little the sampler costs; the ratio of that to one stream's
  measured rate is the most batching can gain here.

    python scripts/bench_generate.py [--model models/default] [--tokens 1000] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from midigen.model import default_model
from midigen.model.sample import Length, Sampling, sample_tokens
from midigen.model.trained import load_model

STREAMS = (1, 4, 16)
PEAK_SIZE = 2048  # the square fp32 product whose rate stands for the machine's peak

TORCH_PATH = """
import sys, torch
from midigen.cli import main
from midigen.model import trained
from midigen.model.stepper import Stepper

class Loaded(trained.TrainedModel):  # weights through the PyTorch network, as before 0.2
    @property
    def stepper(self):
        state = {k: v.numpy() for k, v in self.network.state_dict().items()}
        return Stepper(self.architecture, state)

def load_through_torch(folder, load=trained.load_model):
    model = load(folder)
    return Loaded(model.folder, model.config, model.architecture, model.vocab, model.weights)

trained.load_model = load_through_torch
main(sys.argv[1:])
"""


def start_up_seconds(command: list[str], runs: int) -> float:
    times = []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(
                [*command, "-o", str(Path(folder) / "x.mid"), "--length", "1s", "--seed", "1"],
                check=True,
                capture_output=True,
            )
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def naive_tokens_per_second(model, tokens: int) -> float:
    import torch

    network = model.network
    generator = torch.Generator().manual_seed(0)
    ids = torch.tensor([[3]])
    state = None
    started = time.perf_counter()
    with torch.inference_mode():
        for _ in range(tokens):
            logits, state = network(ids, state)
            probabilities = torch.softmax(logits[0, -1], dim=-1)
            ids = torch.multinomial(probabilities, 1, generator=generator).view(1, 1)
    return tokens / (time.perf_counter() - started)


def midigen_tokens_per_second(model, tokens: int, streams: int) -> float:
    started = time.perf_counter()
    outputs = sample_tokens(
        model.stepper,
        model.vocab,
        ["EVENT_24"],
        length=Length(tokens, "tokens"),
        sampling=Sampling(),  # the defaults of `midigen generate`
        streams=streams,
        seed=0,
    )
    return sum(len(tokens) - 1 for tokens in outputs) / (time.perf_counter() - started)


def flops_per_token(stepper) -> int:
    """Multiply-adds x 2 of one stream's step: every matrix product but layer 0's input
    projection, which is a table lookup."""
    matrices = [*stepper.hidden_weights, *stepper.input_weights[1:], stepper.output_weights]
    if stepper.projection is not None:
        matrices.append(stepper.projection)
    return 2 * sum(m.size for m in matrices)


def bare_steps_per_second(stepper, streams: int, steps: int) -> float:
    """Steps/s of the network alone, no sampler: the most a batch of ``streams`` can do."""
    state = stepper.initial_state(streams)
    ids = np.zeros(streams, np.int64)
    for _ in range(10):
        stepper.step(ids, state)
    started = time.perf_counter()
    for _ in range(steps):
        stepper.step(ids, state)
    return steps / (time.perf_counter() - started)


def peak_flops() -> float:
    """FLOP/s of a large square fp32 product: near what this machine's BLAS can do."""
    rng = np.random.default_rng(0)
    a, b = (rng.random((PEAK_SIZE, PEAK_SIZE), dtype=np.float32) for _ in range(2))
    a @ b
    started = time.perf_counter()
    for _ in range(3):
        a @ b
    return 3 * 2 * PEAK_SIZE**3 / (time.perf_counter() - started)


def seconds_for_a_minute(model) -> float:
    started = time.perf_counter()
    model.generate(length="60s", seed=0)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=default_model())
    parser.add_argument("--tokens", type=int, default=1000, help="tokens per stream")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    midigen_command = [sys.executable, "-m", "midigen", "generate", "-m", str(args.model)]
    torch_command = [sys.executable, "-c", TORCH_PATH, "generate", "-m", str(args.model)]
    start_new, start_torch = [], []
    for _ in range(args.runs):  # interleaved, so that machine noise hits both alike
        start_new.append(start_up_seconds(midigen_command, 1))
        start_torch.append(start_up_seconds(torch_command, 1))
    model = load_model(args.model)
    naive, minute, peak = [], [], []
    rates: dict[int, list[float]] = {streams: [] for streams in STREAMS}
    bare: dict[int, list[float]] = {streams: [] for streams in (1, STREAMS[-1])}
    for _ in range(max(args.runs, 1)):
        naive.append(naive_tokens_per_second(model, args.tokens))
        for streams in STREAMS:
            rates[streams].append(midigen_tokens_per_second(model, args.tokens, streams))
        minute.append(seconds_for_a_minute(model))
        for streams in bare:
            bare[streams].append(streams * bare_steps_per_second(model.stepper, streams, 500))
        peak.append(peak_flops())
    architecture = model.architecture
    print(
        f"model {args.model}: {architecture.cell} H{architecture.hidden} L{architecture.layers}; "
        f"median of {args.runs} runs"
    )
    new, old = statistics.median(start_new), statistics.median(start_torch)
    print(f"start-up, `generate --length 1s`: {new:.2f} s (torch path {old:.2f} s)")
    print(f"{'sampler':<40} {'tokens/s':>10} {'vs 1 stream':>12}")
    print(f"{'naive nn.LSTM step loop, 1 stream':<40} {statistics.median(naive):>10,.0f}")
    single = statistics.median(rates[1])
    for streams in STREAMS:
        rate = statistics.median(rates[streams])
        label = f"midigen, {streams} stream{'s' if streams > 1 else ''}"
        print(f"{label:<40} {rate:>10,.0f} {rate / single:>11.2f}x")
    print(
        f"midigen / naive (1 stream): {single / statistics.median(naive):.2f}; "
        f"60 s of music in {statistics.median(minute):.2f} s "
        "(targets: start-up < 0.5 s, 16 streams >= 6x one, >= 2,000 tokens/s)"
    )
    flops, top = flops_per_token(model.stepper), statistics.median(peak)
    one, many = (statistics.median(bare[streams]) for streams in bare)
    print(f"ceiling: the network's products cost {flops / 1e6:.1f} MFLOP a token")
    for streams, rate in ((1, one), (STREAMS[-1], many)):
        print(
            f"  bare network, {streams:>2} stream{'s' if streams > 1 else ' '}: {rate:>8,.0f} "
            f"tokens/s, {rate * flops / 1e9:>4.0f} GFLOP/s, {rate / single:.2f}x midigen's one"
        )
    print(
        f"  fp32 peak ({PEAK_SIZE}^3 product): {top / 1e9:.0f} GFLOP/s, so at most "
        f"{top / flops:,.0f} tokens/s, {top / flops / single:.2f}x midigen's one stream, "
        "with no sampler at all"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
