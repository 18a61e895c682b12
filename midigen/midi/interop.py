"""Song -> mido.MidiFile and pretty_midi.PrettyMIDI, mido.MidiFile -> bytes: for other tools.

This module never imports song.py (Song.to_mido imports it), so the two
never import each other.

mido cannot hold everything a Song can: a sysex packet with bytes >= 0x80 (an
F7 escape may carry any byte) is skipped and its delta time carried to the
next message, and meta events mido cannot decode become UnknownMetaMessage.
These conversions are for interop, not for archiving: use ``write`` for that.
"""

from __future__ import annotations

import io
import struct
import warnings
from typing import TYPE_CHECKING

from ..errors import MidiError
from .smf import META

if TYPE_CHECKING:
    import mido
    import pretty_midi

    from .song import Song


def song_to_mido(song: Song) -> mido.MidiFile:
    """A mido.MidiFile with the same tracks, messages and delta times."""
    import mido
    from mido.midifiles.meta import UnknownMetaMessage, build_meta_message

    smf_format = song.format if song.format in (1, 2) or len(song.tracks) == 1 else 1
    # mido reads the division as a signed 16-bit number: SMPTE ones are negative.
    division = song.division - 0x10000 if song.division & 0x8000 else song.division
    midi_file = mido.MidiFile(type=smf_format, ticks_per_beat=division)
    for track in song.tracks:
        messages = mido.MidiTrack()
        carry = 0
        for delta, status, data, _ in track.rows:
            time = delta + carry
            try:
                if status < 0xF0:
                    message = mido.Message.from_bytes([status, *data], time=time)
                elif status == META:
                    try:
                        message = build_meta_message(data[0], list(data[1:]), time)
                    except Exception:  # mido raises assorted types (KeySignatureError, ...)
                        message = UnknownMetaMessage(data[0], data[1:], time=time)
                else:
                    payload = data[1:] if data[:1] == b"\xf0" else data
                    if payload[-1:] == b"\xf7":
                        payload = payload[:-1]
                    message = mido.Message("sysex", data=payload, time=time)
            except ValueError:
                carry = time
                continue
            carry = 0
            messages.append(message)
        midi_file.tracks.append(messages)
    return midi_file


def mido_to_smf(midi_file: mido.MidiFile) -> bytes:
    """The bytes mido writes for a MidiFile (running status applied, as mido does);
    ``midigen.read`` reads a MidiFile through this.

    Raises:
        MidiError: mido cannot save the file.
    """
    buffer = io.BytesIO()
    try:
        midi_file.save(file=buffer)
    except (ValueError, TypeError, struct.error) as error:
        raise MidiError(f"mido cannot save this file: {error}") from error
    return buffer.getvalue()


def song_to_pretty_midi(song: Song) -> pretty_midi.PrettyMIDI:
    """Notes, instruments, tempi and signatures as pretty_midi sees them.

    Raises:
        MidiError: the song's division is SMPTE or zero (pretty_midi needs ticks per
            quarter note: views/notes.py gives it an SMPTE song in them), or it has no
            tracks.
    """
    import pretty_midi

    if not song.ticks_per_beat:
        raise MidiError("pretty_midi needs a division in ticks per quarter note")
    if not song.tracks:
        raise MidiError("the song has no tracks, so no notes to read")
    try:
        with warnings.catch_warnings():  # not two lines of pretty_midi's on the user's
            warnings.simplefilter("ignore", RuntimeWarning)  # terminal for a legal file
            return pretty_midi.PrettyMIDI(mido_object=song_to_mido(song))
    except Exception as error:  # pretty_midi raises bare ValueError/IndexError on odd files
        raise MidiError(f"pretty_midi cannot read this song: {error}") from error
