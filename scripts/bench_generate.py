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

from midigen.cli import default_model
from midigen.model.sample import Length, Sampling, sample_tokens
from midigen.model.trained import load_model

STREAMS = (1, 4, 16)

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
    naive, minute = [], []
    rates: dict[int, list[float]] = {streams: [] for streams in STREAMS}
    for _ in range(max(args.runs, 1)):
        naive.append(naive_tokens_per_second(model, args.tokens))
        for streams in STREAMS:
            rates[streams].append(midigen_tokens_per_second(model, args.tokens, streams))
        minute.append(seconds_for_a_minute(model))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
