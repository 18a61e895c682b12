""".mid bytes <-> Song: the codec (reader, writer, variable-length numbers), timing,
General MIDI names, and conversions to mido and pretty_midi."""
