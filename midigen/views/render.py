"""Song -> .wav or .opus (a SoundFont synthesizer) and .png (a piano roll) to audition a piece.

Audio comes from midirenderer, a pip-installed SoundFont synthesizer (Rust,
abi3 wheels, no dependencies), with the General MIDI SoundFont that
pretty_midi ships (TimGM6mb.sf2) unless you name another: no system package
and no extra install step.  The synthesizer clips what it sums past full
scale, so a song it clips is played again quieter until it fits; a WAV
preview is then normalised so that its peak sits at -1 dBFS, about as loud
as other renderers make it.
The piano roll draws every note as a bar, one colour per instrument, drums
in grey.
"""

from __future__ import annotations

import io
import wave
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import MidiError, first_line
from ..fileio import write_atomic
from ..midi.smf import CONTROL_CHANGE, END_OF_TRACK, META, is_broken_meta
from ..midi.song import Song, Track, delta_rows, is_end_of_track, timed_rows
from ..midi.timing import (
    TempoMap,
    conducts,
    in_quarter_notes,
    track_length_ticks,
    without_tempo,
)
from ..midi.writer import write
from ..tokens.event import MAX_REST_STEPS, ticks_per_step
from .notes import song_notes
from .summary import duration, summarize

AUDIO_SUFFIXES = (".wav", ".opus")
# the synthesizer holds the whole piece in memory, about 1.2 GB per 10 minutes of WAV; a
# broken file's delta times can ask for years of it
MAX_AUDIO_SECONDS = 30 * 60
PEAK_DBFS = -1.0
RELEASE_SECONDS = 2.0  # audio after the file's end, for its last notes to ring out
FULL_SCALE = 32767
# The synthesizer sums its voices and clips them at full scale, which scaling its WAV cannot
# undo; a song it clips is played again with every channel's volume (controller 7) times
# QUIETER, about 12 dB less (SoundFont volume goes as its square), at most QUIETER_TRIES times
CHANNEL_VOLUME = 7
GM_VOLUME = 100  # a channel's volume before its first controller 7 (General MIDI)
QUIETER = 0.5
QUIETER_TRIES = 4


def default_soundfont() -> Path:
    import pretty_midi

    return Path(pretty_midi.__file__).with_name("TimGM6mb.sf2")


def render_audio(song: Song, path: str | Path, soundfont: str | Path | None = None) -> float:
    """Synthesize the song to a WAV (16-bit stereo, peak -1 dBFS) or Opus file, by the
    suffix of ``path``; return the audio's length in seconds.

    Raises:
        MidiError: the suffix is not .wav or .opus, the song's times cannot be converted
            to seconds or last over MAX_AUDIO_SECONDS, or the SoundFont cannot be read
            or used.
    """
    import midirenderer

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in AUDIO_SUFFIXES:
        raise MidiError(f"audio files end in {' or '.join(AUDIO_SUFFIXES)}", path=path)
    summary = summarize(song)  # a walk over the events, not a conversion
    length = summary["duration_seconds"]
    if length is None:
        raise MidiError("its ticks cannot be converted to seconds: there is no audio to render")
    trimmed = _without_a_long_silence_at_its_end(song)
    if trimmed is not song:  # its length is its music's now
        song, length = trimmed, duration(trimmed) or 0.0
    if length > MAX_AUDIO_SECONDS:
        raise MidiError(
            f"its music lasts {length / 60:,.0f} minutes; audio previews stop at "
            f"{MAX_AUDIO_SECONDS // 60}"
        )
    font_path = Path(soundfont) if soundfont else default_soundfont()
    try:
        font = font_path.read_bytes()
    except OSError as error:
        reason = error.strerror or error
        raise MidiError(f"cannot read SoundFont: {reason}", path=font_path) from None
    if font[:4] != b"RIFF" or font[8:12] != b"sfbk":  # a SoundFont 2 file is a RIFF sfbk
        raise MidiError(
            f"not a SoundFont 2 file (it starts with {font[:4]!r}, not b'RIFF'...b'sfbk')",
            path=font_path,
        )
    if not summary["notes"]:  # (the synthesizer panics on a song without tracks)
        raise MidiError("has no notes: there is nothing to render")
    try:
        if suffix == ".opus":  # no scaling after: it must leave PEAK_DBFS of headroom itself
            midi, _ = _unclipped(song, font, FULL_SCALE * 10 ** (PEAK_DBFS / 20))
            data = midirenderer.render_opus_from(font, midi)
            seconds = _opus_seconds(data)
        else:
            _, wav = _unclipped(song, font, FULL_SCALE)
            data, seconds = _normalised_wav(wav)
    except BaseException as error:  # RuntimeError, or a Rust panic (not an Exception)
        if not isinstance(error, RuntimeError) and type(error).__name__ != "PanicException":
            raise
        # the song's trouble or the SoundFont's: the caller names the song
        raise MidiError(f"cannot render with {font_path.name}: {first_line(error)}") from None
    write_atomic(path, data)
    return seconds


def _without_a_long_silence_at_its_end(song: Song) -> Song:
    """The song, or, where its End of Track comes more than 64 bars (MAX_REST_STEPS, the
    longest silence the tokens keep) after its last note event, the song ending there: 28 s
    of music with its End of Track at 29 minutes gave 29 minutes of audio and 3 GB of
    memory, and at 40 minutes a refusal.  Format 2's sequences each end with their own
    notes; they play together, so the longest decides."""

    def last_note(track: Track) -> int:
        ticks = [tick for tick, status, *_ in timed_rows(track) if 0x80 <= status < 0xA0]
        return max(ticks, default=0)

    last = max((last_note(track) for track in song.tracks), default=0)
    longest = MAX_REST_STEPS * ticks_per_step(song)
    if max((track_length_ticks(t) for t in song.tracks), default=0) <= last + longest:
        return song
    tracks = []
    for track in song.tracks:
        cut = last_note(track) if song.format == 2 else last
        rows = [row for row in timed_rows(track) if row[0] <= cut and not is_end_of_track(row)]
        tracks.append(Track(delta_rows([*rows, (cut, META, bytes((END_OF_TRACK,)), False)])))
    return replace(song, tracks=tracks)


def _unclipped(song: Song, font: bytes, ceiling: float) -> tuple[bytes, bytes]:
    """The MIDI file the synthesizer plays with its peak below ``ceiling``, and its WAV:
    the song at full volume, or quieter (QUIETER) until it fits."""
    import midirenderer

    volume = 1.0
    for _ in range(QUIETER_TRIES):
        midi = write(_for_synthesizer(song, volume))
        wav = midirenderer.render_wave_from(font, midi)
        if _peak(wav) < ceiling:
            break
        volume *= QUIETER
    return midi, wav


def _peak(wav: bytes) -> int:
    return _loudest(_samples(wav)[0])


def _samples(wav: bytes) -> tuple[np.ndarray, int, int]:
    """A 16-bit WAV's samples (interleaved), channels and frame rate."""
    with wave.open(io.BytesIO(wav)) as source:
        samples = np.frombuffer(source.readframes(source.getnframes()), "<i2")
        return samples, source.getnchannels(), source.getframerate()


def _loudest(samples: np.ndarray) -> int:
    return int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0


def _for_synthesizer(song: Song, volume: float = 1.0) -> Song:
    """The song as the synthesizer can play it, RELEASE_SECONDS longer, which reads only
    the plainest files:
    bare SMF (no RIFF wrapper, a header of 6 bytes, nothing but tracks: a header of 10
    failed with "the 'MThd' chunk has invalid data"); format 2's sequences as format 1
    tracks ("the format 2 is not supported"), played together to the first one's tempo
    (``conducts``), as the piano roll and the tokens take them (the others' tempo events,
    gathered into one map, had slowed a 97.6 s file to 112 s); and an SMPTE time base in
    quarter notes (``in_quarter_notes``: it played an SMPTE file as 0 s of silence).
    Below full ``volume``, every channel's volume is scaled by it (``_at_volume``)."""
    song = in_quarter_notes(song)
    tracks = [
        _without_broken_metas(track if conducts(song, index) else without_tempo(track))
        for index, track in enumerate(song.tracks)
    ]
    if volume < 1.0:
        tracks = _at_volume(tracks, volume)
    division = song.division
    last_tempo_us = TempoMap(song).tempi_us[-1]
    # the synthesizer stops at the last End of Track: a track of its own ends later, so
    # that the last chord rings out as timidity and fluidsynth let it (it stopped mid-note)
    end = max((track_length_ticks(track) for track in song.tracks), default=0)
    release = round(RELEASE_SECONDS * 1e6 / last_tempo_us * division)
    tracks.append([(end + release, META, bytes((END_OF_TRACK,)), False)])
    return Song(
        format=1,  # its tracks and the release track play together
        division=division,
        tracks=[Track(rows) for rows in tracks],
    )


def _at_volume(tracks: list[list[tuple]], volume: float) -> list[list[tuple]]:
    """The tracks (delta rows) with every controller 7 scaled by ``volume``, after a first
    track that sets each channel's volume to GM_VOLUME scaled alike at tick 0, before the
    song's own controllers there."""
    scaled = [
        delta_rows(
            (tick, status, bytes((data[0], max(1, round(data[1] * volume)) if data[1] else 0)), run)
            if status & 0xF0 == CONTROL_CHANGE and data[0] == CHANNEL_VOLUME
            else (tick, status, data, run)
            for tick, status, data, run in timed_rows(Track(rows))
        )
        for rows in tracks
    ]
    start = [
        (0, CONTROL_CHANGE | channel, bytes((CHANNEL_VOLUME, round(GM_VOLUME * volume))), False)
        for channel in range(16)
    ]
    return [[*start, (0, META, bytes((END_OF_TRACK,)), False)], *scaled]


def _without_broken_metas(track: Track) -> list[tuple]:
    """The track's rows but its broken meta events (``is_broken_meta``: a tempo of 2
    bytes or of 0, a key signature of 9 sharps...), which the other commands pass over,
    and the synthesizer refuses ("failed to read the tempo value") or plays as silence;
    its End of Track stays."""
    return delta_rows(
        (tick, status, data, running)
        for tick, status, data, running in timed_rows(track)
        if not (status == META and data[:1] and data[0] != END_OF_TRACK and is_broken_meta(data))
    )


def _normalised_wav(data: bytes) -> tuple[bytes, float]:
    """The WAV scaled so that its loudest sample sits at PEAK_DBFS; and its seconds."""
    samples, channels, rate = _samples(data)
    if peak := _loudest(samples):
        target = FULL_SCALE * 10 ** (PEAK_DBFS / 20)
        samples = np.round(samples * (target / peak)).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue(), len(samples) / channels / rate


def _opus_seconds(data: bytes) -> float:
    """Length of an Ogg Opus stream: the last page's granule position at 48 kHz, less pre-skip."""
    last = data.rfind(b"OggS")
    head = data.find(b"OpusHead")
    if last < 0 or head < 0:
        return 0.0
    granule = int.from_bytes(data[last + 6 : last + 14], "little")
    pre_skip = int.from_bytes(data[head + 10 : head + 12], "little")
    return max(granule - pre_skip, 0) / 48_000


def render_png(
    song: Song,
    path: str | Path,
    title: str | None = None,
    before: Song | None = None,
    shade: tuple[float, float] | None = None,
) -> None:
    """A piano roll: time in seconds across, pitch up, one colour per instrument.

    With ``before``, two rolls one above the other (that song first, then
    this one), for an edit; ``shade`` marks a span of seconds on each.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        [("before", before), (title or "after", song)]
        if before is not None
        else [(title or "piano roll", song)]
    )
    figure, rows = plt.subplots(
        len(panels), 1, figsize=(12, 5 * len(panels)), dpi=100, sharex=True, squeeze=False
    )
    for axes, (heading, shown) in zip(rows[:, 0], panels, strict=True):
        _draw_roll(axes, song_notes(shown), heading, plt.get_cmap("tab10"))
        if shade is not None:  # the span, and as much again on either side
            axes.axvspan(*shade, color="0.85", zorder=0)
            width = shade[1] - shade[0]
            axes.set_xlim(max(shade[0] - width, 0), shade[1] + width)
    rows[-1, 0].set_xlabel("time (s)")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    write_atomic(path, buffer.getvalue())


def _draw_roll(axes, notes: list, title: str, palette) -> None:
    names = sorted({note.instrument for note in notes}, key=lambda n: (n == "Drums", n))
    for index, name in enumerate(names):
        bars = [(n.start, max(n.end - n.start, 0.02)) for n in notes if n.instrument == name]
        pitches = [n.pitch for n in notes if n.instrument == name]
        colour = "0.55" if name == "Drums" else palette(index % 10)
        for (start, width), pitch in zip(bars, pitches, strict=True):
            axes.broken_barh([(start, width)], (pitch - 0.4, 0.8), facecolors=colour)
        axes.plot([], [], color=colour, linewidth=6, label=name)
    axes.set_ylabel("MIDI pitch")
    axes.set_title(title)
    axes.grid(alpha=0.25)
    if names:
        axes.legend(loc="upper right", fontsize="small", ncol=min(len(names), 4))
