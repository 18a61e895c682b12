"""training log -> log.csv and loss.png (matplotlib, no screen needed)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ..fileio import write_atomic


def append_log(path: Path, columns: Sequence[str], row: Sequence[object]) -> None:
    """Add one row, writing the header first when the file is new."""
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="") as stream:
        writer = csv.writer(stream)
        if new:
            writer.writerow(columns)
        writer.writerow(row)


def read_log(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def plot_losses(rows: list[dict[str, str]], path: Path) -> None:
    """Training and validation loss against the step."""
    if not rows:
        return
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
    for column, label in (("train_loss", "training"), ("valid_loss", "validation")):
        points = [(int(r["step"]), float(r[column])) for r in rows if r.get(column)]
        if points:
            axes.plot(*zip(*points, strict=True), marker=".", label=label)
    axes.set_xlabel("step")
    axes.set_ylabel("loss (nats per token)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_atomic(path, buffer.getvalue())
