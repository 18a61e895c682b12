"""key names <-> keys, scales, a piece's key estimated from its pitch classes, and the
key signature that notates it.

A key is a tonic pitch class (0 = C) and a mode, major or minor.  Names are
the ones musicians type: ``C``, ``F#``, ``Bb``, ``Am``, ``C#m``, ``Ebminor``.
Scales are the major and the natural minor scale, the ones compare.py's
scale consistency measures against.  ``estimate_key`` is the Krumhansl-
Schmuckler algorithm: the key whose profile correlates best with the
duration-weighted pitch-class histogram (Krumhansl & Kessler 1982 profiles).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ..errors import MidiError
from .gm import DRUM_CHANNEL
from .smf import KEY_SIGNATURE, META
from .song import Song, Track, with_meta_at_start

NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_LETTERS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_ACCIDENTALS = {"": 0, "#": 1, "b": -1}
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 10)  # natural minor
# Krumhansl & Kessler (1982), probe-tone ratings for C major and C minor.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


@dataclass(frozen=True)
class Key:
    """A tonic pitch class (0 = C .. 11 = B) and a mode."""

    tonic: int
    minor: bool = False

    @classmethod
    def parse(cls, text: str) -> Key:
        """'C', 'F#', 'Bb', 'Am', 'C#m', 'Ebmin', 'G minor', 'D major'.

        Raises:
            MidiError: not a key name.
        """
        cleaned = text.strip().replace(" ", "")
        letter, rest = cleaned[:1].upper(), cleaned[1:]
        accidental = rest[:1] if rest[:1] in ("#", "b") else ""
        mode = rest[len(accidental) :].lower()
        if letter not in _LETTERS or mode not in ("", "m", "min", "minor", "maj", "major"):
            raise MidiError(f"key {text!r} is not like C, F#, Bb, Am or C#m")
        tonic = (_LETTERS[letter] + _ACCIDENTALS[accidental]) % 12
        return cls(tonic, mode in ("m", "min", "minor"))

    @property
    def scale(self) -> frozenset[int]:
        """The pitch classes of the key's scale (natural minor for minor keys)."""
        steps = MINOR_STEPS if self.minor else MAJOR_STEPS
        return frozenset((self.tonic + step) % 12 for step in steps)

    @property
    def triad(self) -> tuple[int, int, int]:
        """The pitch classes of the tonic chord: tonic, third (minor or major), fifth."""
        third = 3 if self.minor else 4
        return self.tonic, (self.tonic + third) % 12, (self.tonic + 7) % 12

    @property
    def sharps(self) -> int:
        """The sharps of its key signature, negative for flats: a minor key has those of
        its relative major, and the key six fifths away is written with sharps (F#, D#m),
        as with 5 or more flats the key a semitone below reads more easily."""
        major = (self.tonic + 3) % 12 if self.minor else self.tonic
        fifths = 7 * major % 12
        return fifths if fifths <= 6 else fifths - 12

    @property
    def name(self) -> str:
        return NOTE_NAMES[self.tonic] + ("m" if self.minor else "")

    @property
    def full_name(self) -> str:
        """'D major', 'Db major', 'D# minor': spelt as its key signature writes it."""
        return signature_name(self.sharps, self.minor)

    def __str__(self) -> str:
        return self.name


# the keys of 7 flats .. 7 sharps, round the circle of fifths
MAJOR_BY_SHARPS = "Cb Gb Db Ab Eb Bb F C G D A E B F# C#".split()
MINOR_BY_SHARPS = "Ab Eb Bb F C G D A E B F# C# G# D# A#".split()


def signature_name(sharps: int, minor: bool) -> str:
    """The key a Key Signature event names ('Bb major', 'G# minor'): ``sharps`` -7..7,
    negative for flats, and its mode."""
    names = MINOR_BY_SHARPS if minor else MAJOR_BY_SHARPS
    return names[sharps + 7] + (" minor" if minor else " major")


ALL_KEYS = tuple(Key(tonic, minor) for minor in (False, True) for tonic in range(12))
KEY_SHARE_NOTES = 150  # pitched notes a key share looks at: a piece's opening half minute
KEY_SHARE_MIN_NOTES = 16  # fewer say little about a key


def estimate_key(weights: Sequence[float], among: Sequence[Key] = ALL_KEYS) -> Key:
    """The key (of ``among``) whose Krumhansl-Kessler profile best matches 12 pitch-class
    weights."""
    best, best_score = among[0], float("-inf")
    for key in among:
        profile = MINOR_PROFILE if key.minor else MAJOR_PROFILE
        rotated = [profile[(pc - key.tonic) % 12] for pc in range(12)]
        score = _correlation(weights, rotated)
        if score > best_score:
            best, best_score = key, score
    return best


def _correlation(a: Sequence[float], b: Sequence[float]) -> float:
    mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
    covariance = sum((x - mean_a) * (y - mean_b) for x, y in zip(a, b, strict=True))
    spread_a = sum((x - mean_a) ** 2 for x in a) ** 0.5
    spread_b = sum((y - mean_b) ** 2 for y in b) ** 0.5
    return covariance / (spread_a * spread_b) if spread_a and spread_b else float("-inf")


def key_share(pitches: Sequence[int]) -> float | None:
    """How tightly a piece keeps to one key: the share of its first ``KEY_SHARE_NOTES``
    pitched notes in the major or minor scale that holds most of them; None for a
    piece of fewer than ``KEY_SHARE_MIN_NOTES`` notes.

    Real music differs here by kind: most pop songs and folk tunes keep every
    note in one scale, classical pieces about 95% (they modulate and borrow).
    A sampled stream keeps its key as tightly as a piece of its style
    (model/sample.py).
    """
    pitches = pitches[:KEY_SHARE_NOTES]
    if len(pitches) < KEY_SHARE_MIN_NOTES:
        return None
    counts = [0] * 12
    for pitch in pitches:
        counts[pitch % 12] += 1
    return max(sum(counts[pc] for pc in key.scale) for key in ALL_KEYS) / len(pitches)


def fitting_key(counts: Sequence[int], weights: Sequence[float] | None = None) -> Key:
    """The key whose scale holds the most of the notes ``counts`` counts per pitch class,
    and of those (a major key and its relative minor share one scale) the one
    estimate_key hears in ``weights``, 12 pitch-class weights (by default the counts).

    estimate_key alone weighs the tonic triad, not how many notes the scale holds: in
    the first 10 s of a POP909 song whose notes are 97% in C# minor it heard Ab major
    (82% of them), and continuations kept to it played 41-56% of their notes in the
    song's scale."""
    held = {key: sum(counts[pitch_class] for pitch_class in key.scale) for key in ALL_KEYS}
    most = max(held.values())
    tied = [key for key in ALL_KEYS if held[key] == most]
    return estimate_key(counts if weights is None else weights, tied)


def notated_key(song: Song) -> Key | None:
    """The key to notate a song's pitched notes in (fitting_key: the fewest accidentals).
    None for fewer than ``KEY_SHARE_MIN_NOTES`` pitched notes, or drums alone.

    estimate_key alone chose a signature that left 15% of a generated piece's notes with
    accidentals where one a fifth away left 5%."""
    counts = [0] * 12
    for track in song.tracks:
        for _, status, data, _ in track.rows:
            if status & 0xF0 == 0x90 and status & 0x0F != DRUM_CHANNEL and data[1]:
                counts[data[0] % 12] += 1
    if sum(counts) < KEY_SHARE_MIN_NOTES:
        return None
    return fitting_key(counts)


def key_signature_data(key: Key) -> bytes:
    """The data of a Key Signature meta event for ``key`` (its type, sharps, minor)."""
    return bytes((KEY_SIGNATURE, key.sharps & 0xFF, int(key.minor)))


def with_key_signature(song: Song, key: Key) -> Song:
    """``song`` with a Key Signature event for ``key`` at the start of its first track and
    of each track that plays pitched notes, after their meta events at tick 0: notation
    spells the notes in that key instead of guessing one.  Readers differ on where they
    look: pretty_midi reads the first track alone, MuseScore 3 a staff's own track (as
    MuseScore writes it), so it goes in both.  A song that has a key signature keeps its
    own."""
    if any(
        status == META and data[:1] == bytes((KEY_SIGNATURE,))
        for track in song.tracks
        for _, status, data, _ in track.rows
    ):
        return song
    signature = key_signature_data(key)
    tracks = [
        with_meta_at_start(track, signature) if index == 0 or _pitched(track) else track
        for index, track in enumerate(song.tracks)
    ]
    return replace(song, tracks=tracks)


def _pitched(track: Track) -> bool:
    return any(
        status & 0xF0 == 0x90 and status & 0x0F != DRUM_CHANNEL for _, status, _, _ in track.rows
    )
