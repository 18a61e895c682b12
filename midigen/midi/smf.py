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
