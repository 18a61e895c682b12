"""SMF 1.0 numbers: status and meta types, data lengths, the default tempo.

Every floor that reads or writes MIDI bytes names them from here.
"""

from ..errors import count

META = 0xFF
SYSEX = 0xF0
ESCAPE = 0xF7  # sysex continuation packet or "escape" carrying arbitrary bytes
TRACK_NAME = 0x03
END_OF_TRACK = 0x2F
SET_TEMPO = 0x51
TIME_SIGNATURE = 0x58
KEY_SIGNATURE = 0x59
SMPTE_OFFSET = 0x54
DEFAULT_TEMPO_US = 500_000  # 120 bpm, SMF 1.0

# Channel messages: the status byte's high nibble
NOTE_OFF, NOTE_ON, CONTROL_CHANGE, PROGRAM_CHANGE, PITCH_BEND = 0x80, 0x90, 0xB0, 0xC0, 0xE0
BEND_CENTRE = bytes((0x00, 0x40))  # pitch bend 8192, least significant 7 bits first: no bend

# Data bytes after a channel status, indexed by status byte (0 for non-channel).
CHANNEL_DATA_LENGTH = [0] * 256
for _status in range(0x80, 0xF0):
    CHANNEL_DATA_LENGTH[_status] = 1 if 0xC0 <= _status < 0xE0 else 2
del _status

# Meta types whose payload has a fixed size (SMF 1.0 "Meta-Events"); 0x00 may also be empty.
META_LENGTHS = {
    0x00: (0, 2),
    0x20: (1,),
    0x21: (1,),
    END_OF_TRACK: (0,),
    SET_TEMPO: (3,),
    SMPTE_OFFSET: (5,),
    TIME_SIGNATURE: (4,),
    KEY_SIGNATURE: (2,),
}


def meta_defect(data: bytes) -> str | None:
    """What breaks a meta event (its type byte, then its payload), or None: a payload the
    wrong size for its type, a key signature beyond 7 sharps or flats or of a mode but
    major and minor, an SMPTE offset past its clock, a time signature of 0 beats.  The
    strict reader refuses such an event; the tolerant one keeps it verbatim, which
    other readers (mido, pretty_midi) may refuse."""
    kind, payload = data[0], data[1:]
    size = len(payload)
    if kind in META_LENGTHS and size not in META_LENGTHS[kind]:
        expected = " or ".join(map(str, META_LENGTHS[kind]))
        return f"meta event {kind:02X} has {count(size, 'data byte')}, expected {expected}"
    if kind == KEY_SIGNATURE:
        sharps = payload[0] - 256 if payload[0] > 127 else payload[0]
        if not -7 <= sharps <= 7 or payload[1] > 1:
            return f"key signature {sharps} sharps, mode {payload[1]} is out of range"
    if kind == SMPTE_OFFSET:
        hours, minutes, seconds, frames, hundredths = payload
        rate = (24, 25, 30, 30)[hours >> 5 & 3]
        late = (hours & 0x1F) > 23 or minutes > 59 or seconds > 59 or frames >= rate
        if hours > 0x7F or late or hundredths > 99:  # the top bit is no rate's
            return "SMPTE offset " + ":".join(map(str, payload)) + " is out of range"
    if kind == TIME_SIGNATURE and payload[0] == 0:
        return "time signature of 0 beats"
    return None


def is_broken_meta(data: bytes) -> bool:
    """Whether a meta event (its type byte, then its payload) is defective (``meta_defect``)
    or sets a tempo of 0 microseconds a quarter: the tolerant reader keeps such an event
    verbatim, and everything that reads tempo, meter or key passes over it."""
    if meta_defect(data) is not None:
        return True
    return data[0] == SET_TEMPO and data[1:4] == b"\0\0\0"


def tempo_data(tempo_us: int) -> bytes:
    """The data of a Set Tempo meta event (its type, then the tempo)."""
    return bytes((SET_TEMPO,)) + tempo_us.to_bytes(3, "big")


def meter_data(numerator: int, denominator: int) -> bytes:
    """The data of a Time Signature meta event (its type, then n, d as a power of 2, and
    MIDI's usual 24 clocks a click and 8 32nds a quarter)."""
    return bytes((TIME_SIGNATURE, min(numerator, 255), denominator.bit_length() - 1, 24, 8))
