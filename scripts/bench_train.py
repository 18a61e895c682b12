"""How fast is midigen's training loop, in fp32 and bf16, next to a bare fp32 PyTorch step?

The bare step is the least a training loop can do: an embedding, nn.LSTM,
a Linear output layer, cross-entropy, backward and Adam, on random ids.
midigen's loop adds everything a real run needs (data windows from the
memory-mapped dataset, state carried and reset per piece, dropout, gradient
clipping, the learning-rate schedule, progress reporting).  Both train the
same shape (default E256 H512 L2, batch 32, bptt 128) for the same number of
steps, alternating, several rounds; the table gives median tokens/s, counting
batch x bptt tokens per step for both.  midigen trains in fp32 and in bf16
autocast (DESIGN §6: fp32 >= 0.9x the bare step, bf16 >= 1.4x it on a CPU
with bf16).

Then both precisions train --loss-steps steps from each of --loss-seeds, and
their validation losses are compared (they should agree within 1%).  One seed
does not settle that: a rounding difference sends the two runs down different
paths, as a different seed does, so the table also gives how far fp32 alone
moves from seed to seed, and the mean over the seeds is what is judged.  The
check without that noise comes last: the gradient of one validation batch, in
bf16 and in fp32, through the first seed's fp32-trained weights (cosine
similarity and norm ratio, worst parameter).

    python scripts/bench_train.py [--data DATASET] [--steps 20] [--runs 3]
                                  [--loss-steps 500] [--loss-seeds 1,2,3]

Without --data it prepares ../shared/corpus/real into a temporary folder.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from shared_corpus import shared_corpus
from torch import nn

CORPUS = shared_corpus("real")
WARMUP_STEPS = 3  # steps left out of the timing (allocator warm-up)


def bare_tokens_per_second(vocab: int, args: argparse.Namespace) -> float:
    torch.manual_seed(0)
    embedding = nn.Embedding(vocab, args.embed)
    lstm = nn.LSTM(args.embed, args.hidden, num_layers=args.layers, batch_first=True)
    output = nn.Linear(args.hidden, vocab)
    parameters = [*embedding.parameters(), *lstm.parameters(), *output.parameters()]
    optimizer = torch.optim.Adam(parameters, lr=1e-3)
    ids = torch.randint(0, vocab, (args.batch_size, args.bptt + 1))
    started = None
    for step in range(args.steps + WARMUP_STEPS):
        if step == WARMUP_STEPS:
            started = time.perf_counter()
        hidden, _ = lstm(embedding(ids[:, :-1]))
        logits = output(hidden)
        loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), ids[:, 1:].reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return args.steps * args.batch_size * args.bptt / (time.perf_counter() - started)


def midigen_tokens_per_second(data: Path, args: argparse.Namespace, precision: str) -> float:
    from midigen.model.train import TrainConfig, train

    stamps: list[float] = []
    config = TrainConfig(
        bptt=args.bptt,
        batch_size=args.batch_size,
        steps=args.steps + WARMUP_STEPS,
        eval_every=10**9,
        checkpoint_seconds=10**9,
        precision=precision,
    )
    architecture = {
        "hidden": args.hidden,
        "embed": args.embed,
        "layers": args.layers,
        "tie_weights": False,
    }
    with tempfile.TemporaryDirectory() as folder:
        train(
            data,
            Path(folder) / "model",
            config,
            architecture,
            progress=lambda *_: stamps.append(time.perf_counter()),
        )
    elapsed = stamps[-1] - stamps[WARMUP_STEPS - 1]
    return args.steps * args.batch_size * args.bptt / elapsed


def validation_loss(
    data: Path, args: argparse.Namespace, precision: str, seed: int, keep: Path | None = None
) -> float:
    """The validation loss after --loss-steps steps from ``seed`` (the model left in
    ``keep`` when given)."""
    from midigen.model.train import TrainConfig, train

    config = TrainConfig(
        bptt=args.bptt,
        batch_size=args.batch_size,
        steps=args.loss_steps,
        eval_every=10**9,
        checkpoint_seconds=10**9,
        precision=precision,
        seed=seed,
    )
    architecture = {"hidden": args.hidden, "embed": args.embed, "layers": args.layers}
    with tempfile.TemporaryDirectory() as folder:
        model = keep or Path(folder) / "model"
        return train(data, model, config, architecture).best_valid_loss


def gradient_agreement(data: Path, model: Path, args: argparse.Namespace) -> tuple[float, float]:
    """(lowest cosine similarity, ratio of norms furthest from 1) over the parameters,
    of the gradients of one validation batch computed in bf16 autocast and in fp32."""
    from midigen.data.batches import lay_out
    from midigen.data.dataset import open_dataset
    from midigen.model.trained import load_model
    from midigen.tokens.vocab import PAD_ID

    dataset = open_dataset(data)
    split = "valid" if len(dataset.pieces("valid")) else "train"
    epoch = lay_out(dataset.ids(split), dataset.pieces(split), args.batch_size, args.bptt, None)
    x, y, _ = epoch.window(0)
    network = load_model(model).network
    gradients = {}
    for bf16 in (False, True):
        network.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits, _ = network(x)
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), ignore_index=PAD_ID
        )
        loss.backward()
        gradients[bf16] = [p.grad.flatten() for p in network.parameters() if p.grad is not None]
    pairs = list(zip(gradients[False], gradients[True], strict=True))
    cosines = [float(nn.functional.cosine_similarity(a, b, dim=0)) for a, b in pairs]
    ratios = [float(b.norm() / a.norm()) for a, b in pairs]
    return min(cosines), max(ratios, key=lambda ratio: abs(ratio - 1))


def seed_list(text: str) -> list[int]:
    try:
        return [int(seed) for seed in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not comma-separated seeds: {text!r}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="a dataset folder from `midigen prepare`")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--embed", type=int, default=256)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--bptt", type=int, default=128)
    parser.add_argument("--loss-steps", type=int, default=500)
    parser.add_argument(
        "--loss-seeds",
        type=seed_list,
        default=[1, 2, 3],
        help="comma-separated seeds for the loss comparison (default 1,2,3)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data
        if data is None:
            if not CORPUS.is_dir():
                sys.exit(f"no --data and no corpus at {CORPUS}")
            from midigen.data.dataset import PrepareConfig, prepare

            data = Path(scratch) / "data"
            prepare([CORPUS], data, PrepareConfig(), jobs=0)
        from midigen.data.dataset import open_dataset

        vocab = len(open_dataset(data).vocab)
        bare, fp32, bf16 = [], [], []
        for _ in range(max(args.runs, 1)):
            bare.append(bare_tokens_per_second(vocab, args))
            fp32.append(midigen_tokens_per_second(data, args, "fp32"))
            bf16.append(midigen_tokens_per_second(data, args, "bf16"))
        losses: dict[str, list[float]] = {"fp32": [], "bf16": []}
        kept = Path(scratch) / "fp32-model"
        for seed in args.loss_seeds:
            for kind in losses:
                keep = kept if kind == "fp32" and not kept.exists() else None
                losses[kind].append(validation_loss(data, args, kind, seed, keep))
        cosine, ratio = gradient_agreement(data, kept, args)
    shape = (
        f"E{args.embed} H{args.hidden} L{args.layers}, batch {args.batch_size}, "
        f"bptt {args.bptt}, vocab {vocab}, {torch.get_num_threads()} threads"
    )
    print(f"{shape}; {args.steps} timed steps, median of {len(bare)} runs")
    base = statistics.median(bare)
    print(f"{'loop':<32} {'tokens/s':>10} {'vs bare fp32':>13}")
    print(f"{'bare LSTM + Linear + Adam, fp32':<32} {base:>10,.0f} {1:>12.2f}x")
    for label, rates in (("midigen train, fp32", fp32), ("midigen train, bf16", bf16)):
        rate = statistics.median(rates)
        print(f"{label:<32} {rate:>10,.0f} {rate / base:>12.2f}x")
    print("targets: fp32 >= 0.9x, bf16 >= 1.4x the bare fp32 step")
    tokens = args.loss_steps * args.batch_size * args.bptt
    print(f"validation loss after {args.loss_steps} steps ({tokens:,} tokens)")
    for seed, fp32_loss, bf16_loss in zip(
        args.loss_seeds, losses["fp32"], losses["bf16"], strict=True
    ):
        gap = bf16_loss / fp32_loss - 1
        print(f"  seed {seed:<6} fp32 {fp32_loss:.4f}  bf16 {bf16_loss:.4f}  {gap:+.2%}")
    fp32_mean, bf16_mean = statistics.mean(losses["fp32"]), statistics.mean(losses["bf16"])
    spread = max(losses["fp32"]) / min(losses["fp32"]) - 1
    print(
        f"  mean        fp32 {fp32_mean:.4f}  bf16 {bf16_mean:.4f}  "
        f"{bf16_mean / fp32_mean - 1:+.2%} (target within 1%); fp32 alone spans {spread:.2%} "
        f"over the seeds"
    )
    print(
        f"gradient of one validation batch, bf16 against fp32 (first seed's fp32 weights): "
        f"cosine >= {cosine:.5f}, norm ratio {ratio:.4f} (worst parameter)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
