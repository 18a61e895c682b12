"""SMF 1.0 numbers: status and meta types, data lengths, the default tempo.

Every floor that reads or writes MIDI bytes names them from here.
"""

META = 0xFF
SYSEX = 0xF0
ESCAPE = 0xF7  # sysex continuation packet or "escape" carrying arbitrary bytes
TRACK_NAME = 0x03
END_OF_TRACK = 0x2F
SET_TEMPO = 0x51
TIME_SIGNATURE = 0x58
KEY_SIGNATURE = 0x59
DEFAULT_TEMPO_US = 500_000  # 120 bpm, SMF 1.0

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
    0x54: (5,),
    TIME_SIGNATURE: (4,),
    KEY_SIGNATURE: (2,),
}


def is_broken_meta(data: bytes) -> bool:
    """Whether a meta event (its type byte, then its payload) breaks the layout its type
    fixes, or sets a tempo of 0 microseconds a quarter: the tolerant reader keeps such
    an event verbatim, and everything that reads tempo, meter or key passes over it."""
    kind = data[0]
    if kind in META_LENGTHS and len(data) - 1 not in META_LENGTHS[kind]:
        return True
    return kind == SET_TEMPO and data[1:4] == b"\0\0\0"
