"""Song -> .wav (a SoundFont synthesizer) and .png (a piano roll) to audition a piece.

Audio comes from tinysoundfont, a pip-installed build of TinySoundFont, with
the General MIDI SoundFont that pretty_midi ships (TimGM6mb.sf2) unless you
name another, so no system package is needed.  The piano roll draws every
note as a bar, one colour per instrument, drums in grey.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MidiError
from ..fileio import write_atomic
from ..midi.gm import DRUM_CHANNEL
from ..midi.song import Song
from ..midi.timing import TempoMap
from .notes import song_notes

SAMPLE_RATE = 44_100
TAIL_SECONDS = 1.5  # let the last notes ring out
MAX_SECONDS = 60 * 60  # an hour: a safeguard against huge delta times


@dataclass(frozen=True)
class TimedEvent:
    seconds: float
    order: int  # note-offs before note-ons at one time
    status: int
    data: bytes


def timed_channel_events(song: Song) -> list[TimedEvent]:
    """Every channel message of every track, in seconds, in playing order."""
    tempo_map = TempoMap(song)
    events = []
    for track in song.tracks:
        tick = 0
        for delta, status, data, _ in track.rows:
            tick += delta
            if status < 0xF0:
                note_off = status & 0xF0 == 0x80 or (status & 0xF0 == 0x90 and not data[1])
                events.append(
                    TimedEvent(tempo_map.seconds(tick), 0 if note_off else 1, status, data)
                )
    events.sort(key=lambda e: (e.seconds, e.order))
    return events


def default_soundfont() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).with_name("TimGM6mb.sf2")


def render_wav(song: Song, path: str | Path, soundfont: str | Path | None = None) -> float:
    """Synthesize the song to a 16-bit stereo WAV file; return its length in seconds.

    Raises:
        MidiError: tinysoundfont is missing, the SoundFont cannot be loaded, or
            the song has no time base.
    """
    try:
        import tinysoundfont
    except ImportError:
        raise MidiError(
            "WAV previews need tinysoundfont: pip install --no-deps tinysoundfont "
            "(its pyaudio dependency is only for live playback)"
        ) from None
    soundfont = Path(soundfont) if soundfont else default_soundfont()
    synth = tinysoundfont.Synth(samplerate=SAMPLE_RATE)
    try:
        font = synth.sfload(str(soundfont))
    except Exception as error:  # tinysoundfont raises its own SoundFontException or OSError
        raise MidiError(f"cannot load SoundFont: {error}", path=soundfont) from None
    for channel in range(16):
        synth.program_select(
            channel,
            font,
            128 if channel == DRUM_CHANNEL else 0,
            0,
            is_drums=channel == DRUM_CHANNEL,
        )
    events = timed_channel_events(song)
    end = min((events[-1].seconds if events else 0.0) + TAIL_SECONDS, MAX_SECONDS)
    chunks, rendered = [], 0
    for event in events:
        target = min(int(event.seconds * SAMPLE_RATE), int(end * SAMPLE_RATE))
        if target > rendered:
            chunks.append(np.frombuffer(synth.generate(target - rendered), np.float32).copy())
            rendered = target
        _send(synth, font, event)
    total = int(end * SAMPLE_RATE)
    if total > rendered:
        chunks.append(np.frombuffer(synth.generate(total - rendered), np.float32).copy())
    audio = np.concatenate(chunks) if chunks else np.zeros(2, np.float32)
    write_atomic(path, _wav_bytes(audio))
    return total / SAMPLE_RATE


def _send(synth, font: int, event: TimedEvent) -> None:
    channel, kind, data = event.status & 0x0F, event.status & 0xF0, event.data
    if kind == 0x90 and data[1]:
        synth.noteon(channel, data[0], data[1])
    elif kind in (0x80, 0x90):
        synth.noteoff(channel, data[0])
    elif kind == 0xC0:
        drums = channel == DRUM_CHANNEL
        try:
            synth.program_select(channel, font, 128 if drums else 0, data[0], is_drums=drums)
        except Exception:  # a preset the SoundFont lacks: keep the previous one
            pass
    elif kind == 0xB0:
        synth.control_change(channel, data[0], data[1])
    elif kind == 0xE0:
        synth.pitchbend(channel, data[0] | data[1] << 7)


def _wav_bytes(stereo: np.ndarray) -> bytes:
    pcm = (np.clip(stereo, -1.0, 1.0) * 32767).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def render_png(song: Song, path: str | Path, title: str | None = None) -> None:
    """A piano roll: time in seconds across, pitch up, one colour per instrument."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    notes = song_notes(song)
    figure, axes = plt.subplots(figsize=(12, 5), dpi=100)
    palette = plt.get_cmap("tab10")
    names = sorted({note.instrument for note in notes}, key=lambda n: (n == "Drums", n))
    for index, name in enumerate(names):
        bars = [(n.start, max(n.end - n.start, 0.02)) for n in notes if n.instrument == name]
        pitches = [n.pitch for n in notes if n.instrument == name]
        colour = "0.55" if name == "Drums" else palette(index % 10)
        for (start, width), pitch in zip(bars, pitches, strict=True):
            axes.broken_barh([(start, width)], (pitch - 0.4, 0.8), facecolors=colour)
        axes.plot([], [], color=colour, linewidth=6, label=name)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("MIDI pitch")
    axes.set_title(title or "piano roll")
    axes.grid(alpha=0.25)
    if names:
        axes.legend(loc="upper right", fontsize="small", ncol=min(len(names), 4))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_atomic(path, buffer.getvalue())
