"""pieces -> how alike two sets of music are: statistics per piece, overlap of their spread.

For the first 30 seconds of each piece nine statistics are measured (pitch-
class entropy, pitch range, mean pitch, notes per second, polyphony, inter-
onset interval, note duration, velocity, scale consistency).  For each, a
Gaussian kernel density estimate of its values over one set is compared with
that over the other by their overlapping area (OA): 1 when the two spreads
coincide, 0 when they never meet.  This follows Yang & Lerch, "On the
evaluation of generative models in music" (2020) and their mgeval toolbox.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..data.openings import OPENING_SECONDS as WINDOW_SECONDS
from .notes import Note

GRID_POINTS = 2048
# pieces a set needs before the spread of a statistic over it means anything: one piece
# has no spread, and two single values overlap 0 however close they are
FEWEST_PIECES = 5
# what a statistic of pitched notes is for a piece of drums alone: none, not 0 (a set of
# drum tracks had matched a drum track on six statistics of pitch, lifting its mean OA)
NO_PITCH = math.nan
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)
SCALES = [
    frozenset((root + step) % 12 for step in steps)
    for root in range(12)
    for steps in (MAJOR, MINOR)
]


def _pitched(notes: list[Note]) -> list[Note]:
    return [n for n in notes if not n.is_drum]


def pitch_class_entropy(notes: list[Note]) -> float:
    """Shannon entropy (bits) of the pitch-class histogram: 0 for one note, log2 12 for all."""
    counts = np.bincount([n.pitch % 12 for n in _pitched(notes)], minlength=12)
    if not counts.sum():
        return NO_PITCH
    share = counts[counts > 0] / counts.sum()
    return float(-(share * np.log2(share)).sum())


def pitch_range(notes: list[Note]) -> float:
    pitches = [n.pitch for n in _pitched(notes)]
    return float(max(pitches) - min(pitches)) if pitches else NO_PITCH


def mean_pitch(notes: list[Note]) -> float:
    pitches = [n.pitch for n in _pitched(notes)]
    return float(np.mean(pitches)) if pitches else NO_PITCH


def notes_per_second(notes: list[Note]) -> float:
    if not notes:
        return 0.0
    span = min(WINDOW_SECONDS, max(n.end for n in notes))
    return len(notes) / max(span, 1.0)


def polyphony(notes: list[Note]) -> float:
    """Mean number of pitched notes sounding at each pitched onset."""
    pitched = _pitched(notes)
    if not pitched:
        return NO_PITCH
    starts = np.array([n.start for n in pitched])
    ends = np.array([n.end for n in pitched])
    onsets = np.unique(starts)
    sounding = [(starts <= t).sum() - (ends <= t).sum() for t in onsets]
    return float(np.mean(sounding))


def inter_onset_interval(notes: list[Note]) -> float:
    onsets = np.unique([round(n.start, 3) for n in notes])
    return float(np.mean(np.diff(onsets))) if len(onsets) > 1 else 0.0


def note_duration(notes: list[Note]) -> float:
    pitched = _pitched(notes)
    return float(np.mean([n.end - n.start for n in pitched])) if pitched else NO_PITCH


def velocity(notes: list[Note]) -> float:
    return float(np.mean([n.velocity for n in notes])) if notes else 0.0


def scale_consistency(notes: list[Note]) -> float:
    """Share of pitched notes in the best-fitting major or minor scale."""
    classes = [n.pitch % 12 for n in _pitched(notes)]
    if not classes:
        return NO_PITCH
    return max(sum(c in scale for c in classes) for scale in SCALES) / len(classes)


STATISTICS: dict[str, Callable[[list[Note]], float]] = {
    "pitch_class_entropy": pitch_class_entropy,
    "pitch_range": pitch_range,
    "mean_pitch": mean_pitch,
    "notes_per_second": notes_per_second,
    "polyphony": polyphony,
    "inter_onset_interval": inter_onset_interval,
    "note_duration": note_duration,
    "velocity": velocity,
    "scale_consistency": scale_consistency,
}


def piece_statistics(notes: list[Note]) -> dict[str, float]:
    """The nine statistics over the first 30 seconds of one piece."""
    window = [n for n in notes if n.start < WINDOW_SECONDS]
    return {name: measure(window) for name, measure in STATISTICS.items()}


def overlapping_area(a: np.ndarray, b: np.ndarray) -> float:
    """Area under the smaller of the two Gaussian KDEs (Scott's bandwidth)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if not len(a) or not len(b):
        return 0.0
    both = np.concatenate([a, b])
    scale = max(both.std(), abs(both.mean()) * 1e-3, 1e-6)
    widths = [_bandwidth(x, scale) for x in (a, b)]
    low = both.min() - 4 * max(widths)
    high = both.max() + 4 * max(widths)
    grid = np.linspace(low, high, GRID_POINTS)
    density_a = _kde(a, widths[0], grid)
    density_b = _kde(b, widths[1], grid)
    return float(min(np.trapezoid(np.minimum(density_a, density_b), grid), 1.0))


def _bandwidth(values: np.ndarray, scale: float) -> float:
    """Scott's rule, floored at a share of the scale of both sets, whatever the count: two
    sets of one value (scores at velocity 90) are then one density, and overlap fully."""
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return max(spread * len(values) ** (-1 / 5), 0.05 * scale)


def _kde(values: np.ndarray, width: float, grid: np.ndarray) -> np.ndarray:
    z = (grid[:, None] - values[None, :]) / width
    return np.exp(-0.5 * z * z).sum(axis=1) / (len(values) * width * math.sqrt(2 * math.pi))


@dataclass
class Comparison:
    """Per statistic: mean and spread in each set, and their overlap."""

    rows: dict[str, dict[str, float]]
    pieces: tuple[int, int]

    @property
    def mean_overlap(self) -> float:
        """Over the statistics both sets have (those of pitch need a pitched note)."""
        overlaps = [row["overlap"] for row in self.rows.values() if row["overlap"] is not None]
        return float(np.mean(overlaps)) if overlaps else 0.0

    def to_dict(self) -> dict:
        return {
            "statistics": self.rows,
            "mean_overlap": self.mean_overlap,
            "pieces": {"generated": self.pieces[0], "reference": self.pieces[1]},
        }


def compare(generated: list[list[Note]], reference: list[list[Note]]) -> Comparison:
    """How alike two sets of pieces are, statistic by statistic."""
    return compare_statistics(
        [piece_statistics(notes) for notes in generated],
        [piece_statistics(notes) for notes in reference],
    )


def compare_statistics(ours: list[dict[str, float]], theirs: list[dict[str, float]]) -> Comparison:
    """``compare`` for pieces already measured (``piece_statistics``): a benchmark that
    compares the same pieces against many sets measures each piece once."""
    rows = {}
    for name in STATISTICS:
        a = np.array([s[name] for s in ours])
        b = np.array([s[name] for s in theirs])
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]  # pieces of drums alone have no pitch
        measured = len(a) > 0 and len(b) > 0
        rows[name] = {
            "generated_mean": float(a.mean()) if len(a) else None,
            "generated_std": float(a.std()) if len(a) else None,
            "reference_mean": float(b.mean()) if len(b) else None,
            "reference_std": float(b.std()) if len(b) else None,
            "overlap": overlapping_area(a, b) if measured else None,
        }
    return Comparison(rows, (len(ours), len(theirs)))
