"""Prompts to conditions: "a red square clock with roman numerals showing quarter past three"
-> ``{"face_color": "red", "shape": "square", "numerals": "roman", "hour": 3, "minute": 15}``.

``parse_prompt(text, fields)`` reads the words of any categorical fields (a pipeline's
fields: names and value lists) beside a time (``parse_time``, when the fields include
``hour`` and ``minute``). A value word goes to the field whose name stands next to it
("red hands" -> ``hand_color``, "blue background" -> ``background_color``, "roman
numerals" -> ``numerals``), else to the first field that has it ("red" -> ``face_color``),
but to none beside the name of a field that lacks it ("thin hands": rims are thin, hands are
not; reported unused). ``SYNONYMS`` read variants as values ("gray", "octagonal", "crimson" ->
"red", two-word colours such as "navy blue" or "sky-blue" -> one value), unless the word is
itself a value of the fields.
A yes/no field is set by its name ("with a seconds hand" -> yes, "no seconds hand" -> no),
and vague values (none, no, yes, and words of a time such as "minutes") only next to their
field's name ("no numerals", "minutes ticks").
Words that are neither a value, a field name, nor part of a time are returned in
``unused`` rather than dropped silently. With a field and no time the time is left open;
a prompt with neither is a ValueError, as ``parse_time`` gives it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from shared.time_prompts import DAY_PARTS, FILLER, FRACTIONS, PAST, TO, WORD_NUMBERS, parse_time, spell_out

TIME_WORDS = (
    FILLER
    | DAY_PARTS
    | {w for fraction in FRACTIONS for w in fraction.split()}  # "three quarters"
    | PAST
    | TO
    | set(WORD_NUMBERS)
    | {"noon", "midday", "midnight", "oclock", "o'clock", "o’clock", "hundred"}
)
CONNECTIVES = {
    "with",
    "and",
    "a",
    "an",
    "the",
    "on",
    "in",
    "of",
    "has",
    "having",
    "style",
    "styled",
    "colour",
    "color",
    "colored",
    "coloured",
}
VAGUE = {"none", "no", "yes"}
NEGATIONS = {"no", "without"}
# English variants of value words, read as the value
SYNONYMS = {
    "gray": "grey",
    "striped": "stripes",
    "stripy": "stripes",
    "dotted": "dots",
    "spotted": "dots",
    "checkered": "checker",
    "chequered": "checker",
    "checked": "checker",
    "squared": "square",
    "circular": "round",
    "numbers": "numerals",
    "digits": "numerals",
    "roman-numeral": "roman",
    "octagonal": "octagon",
    "hexagonal": "hexagon",
    # colours near a palette colour, read as it
    "crimson": "red",
    "scarlet": "red",
    "gold": "yellow",
    "golden": "yellow",
    "ivory": "cream",
    "beige": "cream",
    "silver": "grey",
    "turquoise": "teal",
    "cyan": "teal",
    "aqua": "teal",
    "violet": "purple",
    "magenta": "pink",
    # two-word colours, typed apart or hyphenated ("navy blue", "sky-blue"): one value, not two
    "navy blue": "navy",
    "dark blue": "navy",
    "midnight blue": "navy",
    "sky blue": "sky",
    "light blue": "sky",
    "pale blue": "sky",
    "baby blue": "sky",
    "royal blue": "blue",
    "lime green": "lime",
    "light green": "lime",
    "bright green": "lime",
    "dark green": "green",
    "forest green": "green",
    "blue green": "teal",
    "teal blue": "teal",
    "teal green": "teal",
    "dark red": "red",
    "hot pink": "pink",
    "light pink": "pink",
    "off white": "cream",
    "light grey": "grey",
    "dark grey": "grey",
    "ball": "round",  # the renderer's round tip is a ball
    "lollipop": "round",
    "tapered": "taper",
    "tapering": "taper",
    "border": "rim",
    "bezel": "rim",
    "polka dot": "dots",
    "polka dots": "dots",
}
# "arrow-shaped hands" -> "arrow hands", "red-faced" -> "red face", "red-coloured" -> "red",
# "ball-tipped hands" -> "ball hands"
_COMPOUND = re.compile(r"([a-z]+)-(shaped|faced|coloured|colored|tipped)")
_STRIP = ".,!?;:\"'“”‘’()[]{}"


@dataclass
class Prompt:
    """What a prompt asks for: ``conditions`` (field -> value) and the words it did not use."""

    text: str
    conditions: dict = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)


def _split_compounds(tokens: list[str], name_words: set[str]) -> list[str]:
    """Compound words as their parts: "diamond-shaped" -> "diamond", "white-faced" -> "white face",
    and "<field name>less" -> "without <name>" ("rimless", "tickless")."""
    out: list[str] = []
    for token in tokens:
        word = token.strip(_STRIP).lower()
        lead, trail = token[: len(token) - len(token.lstrip(_STRIP))], token[len(token.rstrip(_STRIP)) :]
        match = _COMPOUND.fullmatch(word)
        stem = word[:-4]
        if match:
            parts = [match.group(1)] + (["face"] if match.group(2) == "faced" else [])
        elif word.endswith("less") and _singular(SYNONYMS.get(stem, stem)) in name_words:
            parts = ["without", stem]
        else:
            out.append(token)
            continue
        parts[0] = lead + parts[0]
        parts[-1] += trail  # a single part gets both
        out += parts
    return out


def _join_phrases(tokens: list[str]) -> list[str]:
    """Tokens with each two-word synonym ("navy blue", "sky-blue") made one token ("navy blue"),
    unless punctuation parts its words ("white, blue hands" stays two)."""
    out: list[str] = []
    for token in tokens:
        word = token.strip(_STRIP).lower()
        if "-" in word and word.replace("-", " ") in SYNONYMS:
            token = token.replace("-", " ")
        elif out and out[-1] == out[-1].rstrip(_STRIP) and f"{out[-1].strip(_STRIP).lower()} {word}" in SYNONYMS:
            token = f"{out.pop()} {token}"
        out.append(token)
    return out


def _is_time_word(word: str) -> bool:
    """Part of a time as ``parse_time`` reads one: a number, or words like "twenty-one", "past"."""
    return any(c.isdigit() for c in word) or all(p in TIME_WORDS for p in re.split(r"[^a-z']+", word) if p)


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _name_words(name: str) -> set[str]:
    return {_singular(w) for w in re.split(r"[_\W]+", name.lower()) if w}


def _value_words(value) -> tuple[str, ...]:
    return tuple(str(value).lower().replace("_", " ").split())


def parse_prompt(text: str, fields: Mapping[str, Sequence]) -> Prompt:
    """Read ``fields`` values and a time from ``text`` (see the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"a prompt is a string, got {type(text).__name__}")
    names = {name: _name_words(name) for name in fields}
    tokens = spell_out(unicodedata.normalize("NFKC", text)).split()  # full-width letters and digits too
    tokens = _join_phrases(_split_compounds(tokens, set().union(*names.values())))
    raw = [t.strip(_STRIP).lower() for t in tokens]
    # a synonym is read as its value unless the word is itself a value of these fields
    values = {w for vs in fields.values() for v in vs for w in _value_words(v)}
    words = [w if w in values else SYNONYMS.get(w, w) for w in raw]
    used = [False] * len(words)
    result = Prompt(text)
    timed = "hour" in fields and "minute" in fields
    word_fields = [name for name, values in fields.items() if any(not str(v).isdigit() for v in values)]

    def is_name(j: int, name: str) -> bool:
        return 0 <= j < len(words) and not used[j] and _singular(words[j]) in names[name] - {"color", "colour"}

    def near(i: int, width: int, name: str) -> list[int]:
        """The words of ``name`` right after the value ("red hands", "no seconds hand"), else right before it."""
        after = []
        for j in range(i + width, len(words)):
            if not is_name(j, name):
                break
            after.append(j)
        return after or ([i - 1] if is_name(i - 1, name) else [])

    i = 0
    while i < len(words):
        match = None
        for name in word_fields:
            if name in result.conditions:
                continue
            for value in fields[name]:
                vw = _value_words(value)
                # plurals as the value's own form: "minute ticks" is ticks "minutes", "dot" is "dots"
                said = tuple(map(_singular, words[i : i + len(vw)]))
                if said == tuple(map(_singular, vw)) and (match is None or len(vw) > len(match[2])):
                    match = (name, value, vw)
        if words[i] in NEGATIONS:  # "no numerals", "without ticks": the value none
            none = next(
                (
                    (n, v)
                    for n in word_fields
                    if n not in result.conditions
                    for v in fields[n]
                    if str(v).lower() == "none" and near(i, 1, n)
                ),
                None,
            )
            if none is not None:
                result.conditions[none[0]] = none[1]
                for j in [i, *near(i, 1, none[0])]:
                    used[j] = True
                i += 1
                continue
        if match is None:
            i += 1
            continue
        vw = match[2]
        # among the fields that have this value, the one named next to it, else the first
        candidates = [
            (n, v) for n in word_fields if n not in result.conditions for v in fields[n] if _value_words(v) == vw
        ]
        named = [(n, v, near(i, len(vw), n)) for n, v in candidates]
        named = [c for c in named if c[2]]
        if named:
            name, value, name_words = named[0]
            for j in name_words:
                used[j] = True
        elif vw[0] in VAGUE or (timed and _is_time_word(vw[0])):  # "minutes": a time word unless named
            i += 1
            continue
        elif any(near(i, len(vw), n) for n in set(word_fields) - {n for n, _ in candidates}):
            i += len(vw)  # next to another field's name that has no such value ("thin hands"): not used
            continue
        else:
            name, value = candidates[0]
        result.conditions[name] = value
        used[i : i + len(vw)] = [True] * len(vw)
        i += len(vw)

    for name, values in fields.items():  # yes/no fields named without a value: "with a seconds hand"
        if name in result.conditions or {str(v).lower() for v in values} != {"no", "yes"}:
            continue
        hits = [j for j, w in enumerate(words) if not used[j] and _singular(w) in names[name]]
        if {_singular(words[j]) for j in hits} >= names[name]:
            before = [k for j in hits for k in (j - 1, j - 2) if k >= 0 and words[k] in NEGATIONS]
            result.conditions[name] = next(v for v in values if str(v).lower() == ("no" if before else "yes"))
            for j in hits + before:
                used[j] = True

    rest = [j for j, u in enumerate(used) if not u]
    unused = [j for j in rest if words[j] and words[j] not in CONNECTIVES and not _is_time_word(words[j])]
    result.unused = [raw[j] for j in unused]  # as typed, not as a synonym read it
    time_text = " ".join(tokens[j] for j in rest if j not in unused and words[j] not in CONNECTIVES - FILLER)
    if timed and any(w not in FILLER | CONNECTIVES for w in time_text.lower().split()):
        try:
            hour, minute = parse_time(time_text)
        except ValueError as e:  # quote the prompt as typed, not the words left for the time
            raise ValueError(str(e).replace(repr(time_text), repr(text), 1)) from None
        result.conditions.update(hour=hour, minute=minute)
    elif timed and not result.conditions:
        parse_time(text)  # neither a time nor a field: refuse with the time parser's message
    elif not timed:
        result.unused += [raw[j] for j in rest if words[j] and j not in unused and words[j] not in CONNECTIVES | FILLER]
    if not result.conditions:
        raise ValueError(f"cannot read {text!r}: it names no value of this pipeline's fields ({', '.join(fields)})")
    return result
