"""General MIDI level 1: program names and families, playable ranges, the drum channel.

The table is the GM 1 sound set (MIDI Manufacturers Association, 1991), the
same names pretty_midi uses; kept here so ``midigen info`` need not import
pretty_midi (and numpy) to print them.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..errors import MidiError

DRUM_CHANNEL = 9  # channel 10, counted from 1

PROGRAM_NAMES = (
    "Acoustic Grand Piano",
    "Bright Acoustic Piano",
    "Electric Grand Piano",
    "Honky-tonk Piano",
    "Electric Piano 1",
    "Electric Piano 2",
    "Harpsichord",
    "Clavinet",
    "Celesta",
    "Glockenspiel",
    "Music Box",
    "Vibraphone",
    "Marimba",
    "Xylophone",
    "Tubular Bells",
    "Dulcimer",
    "Drawbar Organ",
    "Percussive Organ",
    "Rock Organ",
    "Church Organ",
    "Reed Organ",
    "Accordion",
    "Harmonica",
    "Tango Accordion",
    "Acoustic Guitar (nylon)",
    "Acoustic Guitar (steel)",
    "Electric Guitar (jazz)",
    "Electric Guitar (clean)",
    "Electric Guitar (muted)",
    "Overdriven Guitar",
    "Distortion Guitar",
    "Guitar Harmonics",
    "Acoustic Bass",
    "Electric Bass (finger)",
    "Electric Bass (pick)",
    "Fretless Bass",
    "Slap Bass 1",
    "Slap Bass 2",
    "Synth Bass 1",
    "Synth Bass 2",
    "Violin",
    "Viola",
    "Cello",
    "Contrabass",
    "Tremolo Strings",
    "Pizzicato Strings",
    "Orchestral Harp",
    "Timpani",
    "String Ensemble 1",
    "String Ensemble 2",
    "Synth Strings 1",
    "Synth Strings 2",
    "Choir Aahs",
    "Voice Oohs",
    "Synth Choir",
    "Orchestra Hit",
    "Trumpet",
    "Trombone",
    "Tuba",
    "Muted Trumpet",
    "French Horn",
    "Brass Section",
    "Synth Brass 1",
    "Synth Brass 2",
    "Soprano Sax",
    "Alto Sax",
    "Tenor Sax",
    "Baritone Sax",
    "Oboe",
    "English Horn",
    "Bassoon",
    "Clarinet",
    "Piccolo",
    "Flute",
    "Recorder",
    "Pan Flute",
    "Blown bottle",
    "Shakuhachi",
    "Whistle",
    "Ocarina",
    "Lead 1 (square)",
    "Lead 2 (sawtooth)",
    "Lead 3 (calliope)",
    "Lead 4 chiff",
    "Lead 5 (charang)",
    "Lead 6 (voice)",
    "Lead 7 (fifths)",
    "Lead 8 (bass + lead)",
    "Pad 1 (new age)",
    "Pad 2 (warm)",
    "Pad 3 (polysynth)",
    "Pad 4 (choir)",
    "Pad 5 (bowed)",
    "Pad 6 (metallic)",
    "Pad 7 (halo)",
    "Pad 8 (sweep)",
    "FX 1 (rain)",
    "FX 2 (soundtrack)",
    "FX 3 (crystal)",
    "FX 4 (atmosphere)",
    "FX 5 (brightness)",
    "FX 6 (goblins)",
    "FX 7 (echoes)",
    "FX 8 (sci-fi)",
    "Sitar",
    "Banjo",
    "Shamisen",
    "Koto",
    "Kalimba",
    "Bagpipe",
    "Fiddle",
    "Shanai",
    "Tinkle Bell",
    "Agogo",
    "Steel Drums",
    "Woodblock",
    "Taiko Drum",
    "Melodic Tom",
    "Synth Drum",
    "Reverse Cymbal",
    "Guitar Fret Noise",
    "Breath Noise",
    "Seashore",
    "Bird Tweet",
    "Telephone Ring",
    "Helicopter",
    "Applause",
    "Gunshot",
)


def program_name(program: int, channel: int = 0) -> str:
    """Instrument name for a program change, or "Drums" on the GM drum channel."""
    return "Drums" if channel == DRUM_CHANNEL else PROGRAM_NAMES[program & 0x7F]


# Playable range (lowest, highest MIDI key) of each GM program, from the usual
# orchestration references (e.g. Adler, "The Study of Orchestration"), a few
# semitones wider where players and samplers commonly go; keyboards, synths
# and sound effects take the piano's range.  Generation keeps notes inside them.
_PIANO = (21, 108)
_RANGES_BY_PROGRAM = {
    8: (60, 108), 9: (72, 108), 10: (60, 96), 11: (53, 89),  # celesta, glockenspiel, box, vibes
    12: (45, 96), 13: (65, 108), 14: (60, 77), 15: (48, 96),  # marimba, xylophone, bells, dulcimer
    16: (36, 96), 17: (36, 96), 18: (36, 96), 19: (24, 96),  # organs
    20: (36, 96), 21: (53, 89), 22: (60, 84), 23: (53, 89),  # reed organ, accordions, harmonica
    24: (40, 83), 25: (40, 84), 26: (40, 86), 27: (40, 86),  # guitars
    28: (40, 86), 29: (40, 88), 30: (40, 88), 31: (40, 88),
    32: (28, 55), 33: (28, 67), 34: (28, 67), 35: (28, 67),  # basses
    36: (28, 67), 37: (28, 67), 38: (24, 72), 39: (24, 72),
    40: (55, 103), 41: (48, 91), 42: (36, 76), 43: (28, 67),  # violin, viola, cello, contrabass
    44: (28, 103), 45: (28, 103), 46: (23, 103), 47: (38, 60),  # tremolo, pizzicato, harp, timpani
    48: (28, 103), 49: (28, 103), 50: (28, 103), 51: (28, 103),  # string ensembles
    52: (40, 84), 53: (40, 84), 54: (40, 88), 55: (36, 96),  # choir, voice, synth voice, hit
    56: (52, 84), 57: (40, 74), 58: (26, 58), 59: (52, 84),  # trumpet, trombone, tuba, muted
    60: (34, 77), 61: (34, 84), 62: (34, 96), 63: (34, 96),  # horn, brass section, synth brass
    64: (56, 88), 65: (49, 81), 66: (44, 76), 67: (36, 69),  # saxophones
    68: (58, 93), 69: (52, 83), 70: (34, 75), 71: (50, 94),  # oboe, english horn, bassoon, clarinet
    72: (74, 108), 73: (59, 98), 74: (60, 98), 75: (60, 96),  # piccolo, flute, recorder, pan flute
    76: (60, 88), 77: (55, 86), 78: (60, 96), 79: (60, 86),  # bottle, shakuhachi, whistle, ocarina
    104: (48, 79), 105: (48, 84), 106: (50, 79), 107: (55, 91),  # sitar, banjo, shamisen, koto
    108: (48, 84), 109: (55, 84), 110: (55, 100), 111: (60, 88),  # kalimba, bagpipe, fiddle, shanai
    112: (72, 96), 113: (60, 84), 114: (52, 84), 115: (60, 84),  # bell, agogo, steel drums, block
    116: (36, 72), 117: (36, 72), 118: (36, 72),  # taiko, melodic tom, synth drum
}  # fmt: skip
PROGRAM_RANGES = tuple(_RANGES_BY_PROGRAM.get(program, _PIANO) for program in range(128))

# Programs whose player sounds one note at a time: the basses, the solo brass (not the
# brass section) and the woodwinds.  A chord on one of them is several players; in the
# default model's corpus, counting each program's tracks together, 2% of bass notes, 15%
# of reed notes and 5% of pipe notes start with another note of their program.
ONE_LINE = frozenset((*range(32, 40), *range(56, 61), *range(64, 80)))
# The most notes such a program, or a solo string, starts together: a bass's double stop,
# a section of three winds or brass, a string player's four strings.  In that corpus they
# hold 100% of the basses' notes, 98% of the brass's, 99.5-99.8% of the woodwinds' and
# 99.4% of the solo strings'; generated pieces had bassoons and violas play 6-8.
MOST_AT_ONCE = {
    **{program: 2 for program in range(32, 40)},
    **{program: 4 for program in range(40, 44)},
    **{program: 3 for program in (*range(56, 61), *range(64, 80))},
}

# Names a musician types for groups of programs: the GM 1 families, with the
# string family split the way players mean it (timpani and harp apart, the
# string ensembles in).
FAMILIES = {
    "piano": range(0, 8),
    "chromatic percussion": range(8, 16),
    "mallets": range(8, 16),
    "organ": range(16, 24),
    "guitar": range(24, 32),
    "bass": range(32, 40),
    "strings": (*range(40, 46), *range(48, 52)),
    "harp": (46,),
    "timpani": (47,),
    "ensemble": range(48, 56),
    "choir": range(52, 55),
    "brass": range(56, 64),
    "reed": range(64, 72),
    "sax": range(64, 68),
    "woodwinds": (*range(64, 80),),
    "pipe": range(72, 80),
    "flutes": (72, 73, 74, 75),
    "synth lead": range(80, 88),
    "synth pad": range(88, 96),
    "synth effects": range(96, 104),
    "ethnic": range(104, 112),
    "percussive": range(112, 120),
    "sound effects": range(120, 128),
}
# the keys General MIDI level 1's percussion map names, Acoustic Bass Drum to Open Triangle:
# GM players give the others no sound or another (MuseScore's own drum set maps fewer still,
# and names the rest "unmapped" as it opens a file, as it does real files' hand claps)
GM_DRUM_KEYS = range(35, 82)
DRUMS_NAME = "drums"
KIT = 128  # the drum kit, among the programs an Instruments' ``asked`` names


@dataclass(frozen=True)
class Instruments:
    """Which instruments may play: GM programs, and whether the drum kit may; and as the
    musician named them (``asked``: one set per name, a family's programs, one program,
    or ``{KIT}``), so that each of them can be brought in."""

    programs: frozenset[int]
    drums: bool
    asked: tuple[frozenset[int], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Instruments:
        """'piano,bass,strings', 'drums', '0,33', 'Acoustic Grand Piano, Flute'.

        Items are GM program names, family names (FAMILIES), program numbers
        0..127, or ``drums``; case and spacing do not matter.

        Raises:
            MidiError: an item names no instrument; the message suggests the nearest.
        """
        programs: set[int] = set()
        drums = False
        asked: list[frozenset[int]] = []
        for item in (part.strip() for part in text.split(",")):
            key = " ".join(item.lower().split())
            if not key:
                continue
            if key in (DRUMS_NAME, "drum", "drum kit", "percussion kit"):
                drums, named = True, frozenset({KIT})
            elif key.isdigit() and int(key) < 128:
                named = frozenset({int(key)})
            elif key in _PROGRAM_BY_NAME:  # a program's own name wins over a family's
                named = frozenset({_PROGRAM_BY_NAME[key]})
            elif key in FAMILIES:
                named = frozenset(FAMILIES[key])
            else:
                names = [*FAMILIES, DRUMS_NAME, *_PROGRAM_BY_NAME]
                nearest = difflib.get_close_matches(key, names, n=3, cutoff=0.5)
                hint = f"; did you mean {', '.join(nearest)}?" if nearest else ""
                raise MidiError(f"{item!r} is not a General MIDI instrument{hint}")
            programs |= named - {KIT}
            if named not in asked:
                asked.append(named)
        if not programs and not drums:
            raise MidiError("name at least one instrument")
        return cls(frozenset(programs), drums, tuple(asked))


_PROGRAM_BY_NAME = {name.lower(): program for program, name in enumerate(PROGRAM_NAMES)}
