"""Song <-> tokens, in the scheme the caller names; token text <-> token lists.

Token text is self-describing: its first token names the scheme (``MTHD_...``
for chunk tokens), so ``detokenize`` needs no flags.
"""

from __future__ import annotations

from ..errors import TokenError
from ..midi.song import Song, expect_song
from .chunk import LINE_STARTS, chunk_tokens_to_song, song_to_chunk_tokens
from .event import event_tokens_to_song, song_to_event_tokens
from .grammar import HEADER as EVENT_HEADER

SCHEMES = ("chunk", "event")
# Token text of the largest real MIDI files is a few MB; decoding runs at about a
# million tokens a second, so larger files are refused rather than waited on.
MAX_TOKEN_TEXT_BYTES = 32 * 2**20


def tokenize(song: Song, scheme: str = "chunk", bars: bool = True) -> list[str]:
    """Turn a song into tokens of the given scheme.

    Raises:
        MidiError: the event scheme needs a time base the song lacks.
        TypeError: not a Song.
    """
    expect_song(song, "tokenize")
    if scheme == "chunk":
        return song_to_chunk_tokens(song)
    if scheme == "event":
        return song_to_event_tokens(song, bars)
    raise ValueError(f"unknown token scheme {scheme!r}; choose from {', '.join(SCHEMES)}")


def detokenize(tokens: list[str] | str) -> Song:
    """Rebuild a song from tokens (or token text), whatever scheme made them.

    Event tokens always decode: tokens that make no sense where they stand
    are skipped and listed in ``song.warnings``.

    Raises:
        TokenError: the tokens are not a scheme midigen knows, or are malformed.
    """
    if isinstance(tokens, str):
        tokens = text_to_tokens(tokens)
    if tokens and tokens[0].startswith("MTHD_"):
        return chunk_tokens_to_song(tokens)
    if tokens and tokens[0] == EVENT_HEADER:
        return event_tokens_to_song(tokens)[0]
    if not tokens:
        raise TokenError("no tokens: the text is empty")
    raise TokenError(f"not midigen token text (starts with {tokens[0][:40]!r})", offset=0)


def tokens_to_text(tokens: list[str]) -> str:
    """Space-separated tokens, a new line where a track or chunk starts, a final newline."""
    lines: list[list[str]] = [[]]
    for token in tokens:
        if token.startswith(LINE_STARTS) and lines[-1]:
            lines.append([])
        lines[-1].append(token)
    return "\n".join(" ".join(line) for line in lines) + "\n"


def text_to_tokens(text: str) -> list[str]:
    """Tokens of a token text, as an editor may have saved it (a UTF-8 BOM, CRLF lines)."""
    return text.removeprefix("\ufeff").split()
