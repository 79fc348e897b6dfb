"""ABC notation: a file's tunes cut apart, each reduced to the header fields that make its music and its body, and
read by music21 into notes. ABC standard 2.1: https://abcnotation.com/wiki/abc:standard:v2.1."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

_FIELD = re.compile(r"^([A-Za-z]):(.*)$")
MAX_CHARACTERS = 20_000  # a longer tune is not parsed: music21's ABC reader takes time quadratic in its length (10,000
# notes: 47 s); O'Neill's longest tune has 2,174 characters


@dataclass(frozen=True)
class Tune:
    """One tune: ``name`` is ``<file>#<X number>``; ``text`` the kept header lines (``M:6/8``, ...) and the body,
    one ``\\n`` after each line."""

    name: str
    text: str


def split_tunes(text: str, file: str, fields: list[str]) -> tuple[list[Tune], list[str]]:
    """The tunes of an ABC file: each starts at an ``X:`` line and ends at the next blank line or ``X:``.

    Every tune keeps, of its header, the fields ``fields`` (letters, in that order; each at most once, its first
    value) and then its body: the lines after ``K:`` that are not fields, comments (``%``) or blank. Inline
    fields and decorations stay in the body as written.

    Returns:
        ``(tunes, skipped)``: the tunes with every field of ``fields`` and a body, and the names of the others with
        the reason (``"<file>#3: no K: field"``). A tune is named ``<file>#<X number>``; a repeated number adds the
        tune's place in the file, so that no two tunes share a name.
    """
    tunes, skipped, seen = [], [], set()
    for number, block in _blocks(text):
        name = f"{file}#{number}"
        if name in seen:  # a repeated X: number: the second tune is named by its place as well
            name = f"{file}#{number} (tune {len(seen) + 1} of the file)"
        seen.add(name)
        header: dict[str, str] = {}
        body: list[str] = []
        in_body = False
        for line in block:
            line = line.split("%", 1)[0].rstrip() if not line.startswith("%%") else ""
            if not line.strip():
                continue
            match = _FIELD.match(line)
            if match:
                key = match.group(1)
                if not in_body:
                    header.setdefault(key, match.group(2).strip())
                    in_body = key == "K"
                    continue
                if key in fields:  # a field inside the body (a change of key or meter) is music: kept
                    body.append(line.strip())
                continue
            if in_body:
                body.append(line.strip())
        if "L" not in header and "M" in header:
            header["L"] = default_unit_length(header["M"])
        missing = [f for f in fields if f not in header]
        if missing:
            skipped.append(f"{name}: no {', '.join(f + ':' for f in missing)} field")
        elif not body:
            skipped.append(f"{name}: no notes after K:")
        else:
            tunes.append(Tune(name, "".join(f"{f}:{header[f]}\n" for f in fields) + "".join(b + "\n" for b in body)))
    return tunes, skipped


def default_unit_length(meter: str) -> str:
    """The unit note length of a tune without ``L:``, from its meter ``M:`` (ABC standard 2.1, section 3.1.7):
    1/16 when the meter is below 0.75 (2/4: 0.5), else 1/8; ``C`` is 4/4, ``C|`` 2/2, and ``none`` or an unreadable
    meter gives 1/8."""
    meter = {"C": "4/4", "C|": "2/2"}.get(meter.strip(), meter.strip())
    match = re.match(r"^(\d+)\s*/\s*(\d+)$", meter)
    if match and int(match.group(2)) and int(match.group(1)) / int(match.group(2)) < 0.75:
        return "1/16"
    return "1/8"


def _blocks(text: str):
    """``(X number, lines)`` of each tune of ``text``."""
    number, lines = None, []
    for line in text.removeprefix("\ufeff").splitlines():  # a byte order mark is not part of the first line
        if line.startswith("X:"):
            if number is not None:
                yield number, lines
            number, lines = line[2:].strip() or "?", []
        elif number is not None:
            if not line.strip() and any(x.startswith("K:") for x in lines):  # a blank line after the header ends it
                yield number, lines
                number, lines = None, []
            else:
                lines.append(line)
    if number is not None:
        yield number, lines


def parse(text: str):
    """The music21 score of the ABC tune ``text`` (header fields and body, no ``X:`` needed), or ``None`` when
    music21's ABC reader (``music21.converter.parse(..., format="abc")``) raises on it or the tune is longer than
    :data:`MAX_CHARACTERS`. Its warnings are silenced."""
    import music21

    if len(text) > MAX_CHARACTERS:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return music21.converter.parse("X:1\n" + text, format="abc")
        except Exception:  # noqa: BLE001 (music21 raises many kinds on bad ABC)
            return None


def events(score) -> list[tuple[int, float]]:
    """The melody of a parsed tune as ``(MIDI pitch, length in quarter notes)`` per note, in time order; a chord
    counts as its highest note, rests and grace notes (length 0) are left out."""
    out = []
    for n in score.flatten().notes:
        length = float(n.duration.quarterLength)
        if length <= 0:
            continue
        pitch = max(p.midi for p in n.pitches) if n.isChord else n.pitch.midi
        out.append((int(pitch), length))
    return out


def parsed_events(text: str, min_notes: int) -> list[tuple[int, float]] | None:
    """:func:`events` of the tune ``text`` when it parses (:func:`parse`) with at least ``min_notes`` notes, else
    ``None``."""
    score = parse(text)
    if score is None:
        return None
    notes = events(score)
    return notes if len(notes) >= min_notes else None
