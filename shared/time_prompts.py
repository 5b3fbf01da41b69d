"""Times of day from what people type, and back.

``parse_time`` reads digital forms ("3:45", "15:45", "3.45 pm", "7h05", "1545", "930", "24:00"),
words ("quarter past three", "ten to six", "half seven", "three and a half", "three forty-five",
"seven oh five", "oh five past one", "three quarters past two", "five and twenty past four",
"thirteen hundred hours", "noon", "midday") and
either one inside a request ("draw a clock showing
quarter past three"). Everything is mapped onto the 12-hour dial: hour 0..11 (0 is
twelve), minute 0..59. Words around the time must be ordinary filler ("draw", "clock",
"showing", "at", ...), so "banana 3:45" is refused rather than guessed at.

It is strict, so that a typo is refused rather than read as a nearby time: a number stands
apart from signs, separators and letters (quotes, brackets and one closing ". , ! ? ;" may
touch it), so "-1:00", "+3:15", "3::15", "3:15:", "3..15", "3-45", "13:155", "3:045", "3:45x"
and "at3:45" are refused, as is a stray number beside a time ("3:15 7"). Minutes under ten
after an hour need "oh" or a zero ("seven oh five", "7 05", not "seven five"); an hour in
words is at most twelve ("fifteen forty-five" is refused: write "15:45"), and "past" or "to"
needs the hour after it ("ten to" is refused, not read as ten o'clock).
"""

from __future__ import annotations

import re
import unicodedata

TIME_FIELDS = ("hour", "minute")  # the condition fields a parsed time fills

ACCEPTED = (
    'accepted forms: "3:45", "03:45", "15:45", "3.45", "3:45 pm", "7h05", "3 o\'clock", '
    '"quarter past three", "half past seven", "ten to six", "three forty-five", "noon", "midnight"'
)

UNITS = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
WORD_NUMBERS = {w: i for i, w in enumerate(UNITS)} | TENS | {"oh": 0, "o": 0}
FRACTIONS = {"quarter": 15, "half": 30, "three quarters": 45}
PAST = {"past", "after"}
TO = {"to", "till", "til", "before", "of"}
DAY_PARTS = {"am", "pm", "morning", "afternoon", "evening", "night", "tonight", "noon", "midnight"}
FILLER = {
    "a",
    "an",
    "the",
    "draw",
    "drawing",
    "make",
    "render",
    "generate",
    "create",
    "show",
    "shows",
    "showing",
    "shown",
    "me",
    "please",
    "clock",
    "clocks",
    "face",
    "clockface",
    "analog",
    "analogue",
    "wall",
    "watch",
    "picture",
    "image",
    "of",
    "that",
    "which",
    "with",
    "reads",
    "reading",
    "says",
    "saying",
    "at",
    "time",
    "is",
    "it",
    "its",
    "set",
    "to",
    "for",
    "in",
    "on",
    "exactly",
    "sharp",
    "precisely",
    "about",
    "around",
    "approximately",
    "hands",
    "pointing",
    "and",
    "minutes",
    "minute",
    "mins",
    "min",
    "hours",
    "hrs",
    "h",
    "o'clock",
    "oclock",
    "where",
    "when",
    "what",
    "should",
    "be",
    "display",
    "displaying",
    "displays",
    "please",
}

# A number (or a digital time) stands on its own: before it, the start of the text, a space, a
# quote or an opening bracket; after it, optionally one sentence mark (. , ! ? ;) and then the
# end, a space, a quote or a closing bracket. So "-1:00", "+3:15", "3::15", "3:15:", "3..15",
# "x3:15", "3:15x", "3:045" and "003:45" are refused rather than read as a nearby time.
_BEFORE = r"""(?<![^\s"'“”‘’(\[{])"""
_AFTER = r"""(?=[.,!?;]?(?:[\s"'“”‘’)\]}]|$))"""
# optional seconds ("3:15:30") are accepted and ignored: the dial shows hours and minutes
_DIGITAL = re.compile(_BEFORE + r"(\d{1,2})\s*(?::|\.|h)\s*(\d{1,2})(?::\d{2})?" + _AFTER)
_MILITARY = re.compile(_BEFORE + r"([01]?\d|2[0-3])([0-5]\d)" + _AFTER)  # "1545", "0930", "930"
_HOUR_ONLY_H = re.compile(_BEFORE + r"(\d{1,2})\s*h" + _AFTER)
_NUMBER = re.compile(r"\d+")
_LONE_NUMBER = re.compile(_BEFORE + r"\d+" + _AFTER)


class _Padded(int):
    """A number written with a leading zero ("05"): as a minute it needs no "oh"."""


class _Spelled(int):
    """A number written in words ("twenty two"): as an hour it is 0..12 (24-hour times take digits),
    so "twenty two ten" (a typo'd "twenty to ten") is refused rather than read as 22:10."""


class _NoMatch(Exception):
    pass


def _error(text: str, why: str = "") -> ValueError:
    return ValueError(f"cannot read {text!r} as a time{': ' + why if why else ''}; {ACCEPTED}")


# Phrases read before the words are: what they mean for the time, or nothing
_SPELLED_OUT = [
    (r"\b([ap])\.\s?m\b\.?", r"\1m"),  # "a.m.", "p.m"
    (r"\bon\s+the\s+dot\b", "exactly"),  # not a dot
    (r"\bround\s+about\b", "about"),  # not a round shape
    (r"\b(?:12|24|twelve)-hour\b", ""),  # "a 12-hour clock": not the time
    (r"\b(?:12|twelve|4|four)\s+((?:[a-z]+\s+)?(?:numbers|numerals|digits))\b", r"\1"),  # "12 roman numerals"
    (r"\b(it|what|that)['’]s\b", r"\1 is"),  # a label such as "men's" is left alone
]


def spell_out(text: str) -> str:
    """``text`` with the phrases of ``_SPELLED_OUT`` read (any case), the rest as typed."""
    for pattern, meaning in _SPELLED_OUT:
        text = re.sub(pattern, meaning, text, flags=re.IGNORECASE)
    return text


def _normalize(text: str) -> str:
    t = spell_out(unicodedata.normalize("NFKC", text).lower().strip())  # full-width "３：１５" is 3:15
    t = re.sub(r"o['’ ]?\s?clock", " oclock", t)
    t = re.sub(r"\bmid-?day\b", "noon", t)
    t = re.sub(r"['’]til\b", "til", t)  # quarter 'til six
    t = re.sub(r"\b(\w+)['’]s\b", r"\1 is", t)  # "the clock's at 3"
    t = re.sub(r"(\d)\s*(am|pm)\b", r"\1 \2", t)
    return t


def _words(text: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9']+", text) if w.strip("'")]


def _merge_numbers(words: list[str]) -> list[object]:
    """Turn number words and digit strings into ints ("twenty five" -> 25); keep the rest."""
    out: list[object] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w in TENS and i + 1 < len(words) and words[i + 1] in UNITS[1:10]:
            out.append(_Spelled(TENS[w] + UNITS.index(words[i + 1])))
            i += 2
            continue
        if w in UNITS[1:10] and words[i + 1 : i + 2] == ["and"] and i + 2 < len(words) and words[i + 2] in TENS:
            out.append(_Spelled(TENS[words[i + 2]] + UNITS.index(w)))  # "five and twenty past four": 25
            i += 3
            continue
        if w == "three" and words[i + 1 : i + 2] == ["quarters"]:  # "three quarters past two": 45
            out.append("three quarters")
            i += 2
            continue
        if w in ("oh", "o") and i + 1 < len(words) and words[i + 1] in UNITS[1:10] + [str(d) for d in range(10)]:
            out.append(("oh", int(words[i + 1]) if words[i + 1].isdigit() else UNITS.index(words[i + 1])))
            i += 2
            continue
        if w in WORD_NUMBERS and w not in ("oh", "o"):
            out.append(_Spelled(WORD_NUMBERS[w]))
        elif _NUMBER.fullmatch(w):
            out.append(_Padded(w) if len(w) == 2 and w[0] == "0" else int(w))
        else:
            out.append(w)
        i += 1
    return out


def _clock_hour(hour: int, part: str | None, text: str) -> int:
    """Validate an hour (0..23, or 1..12 with am/pm) and fold it onto the 12-hour dial."""
    if part in ("am", "pm") and not 1 <= hour <= 12:
        raise _error(text, f"hour {hour} does not go with {part}")
    if not 0 <= hour <= 23:
        raise _error(text, f"hour {hour} is not in 0..23")
    return hour % 12


def _check_rest(rest: list[object], text: str) -> str | None:
    """Leftover words must be filler; returns the day part (am/pm/...) if one was given."""
    part = None
    for w in rest:
        if isinstance(w, str) and w in DAY_PARTS:
            part = "am" if w == "morning" else "pm" if w in ("afternoon", "evening", "night", "tonight") else w
        elif not (isinstance(w, str) and w in FILLER):
            raise _error(text, f"did not understand {w if isinstance(w, str) else 'the number ' + str(w)!r}")
    return part


def _parse_digital(norm: str, text: str) -> tuple[int, int] | None:
    for pattern in (_DIGITAL, _MILITARY):
        m = pattern.search(norm)
        if m:
            hour, minute = int(m.group(1)), int(m.group(2))
            if len(m.group(2)) != 2:
                raise _error(text, "minutes need two digits")
            if minute > 59:
                raise _error(text, f"minute {minute} is not in 0..59")
            if (hour, minute) == (24, 0):  # "24:00", the end of the day: midnight
                hour = 0
            part = _check_rest(_merge_numbers(_words(norm[: m.start()] + " " + norm[m.end() :])), text)
            return _clock_hour(hour, part, text), minute
    m = _HOUR_ONLY_H.search(norm)
    if m:
        part = _check_rest(_merge_numbers(_words(norm[: m.start()] + " " + norm[m.end() :])), text)
        return _clock_hour(int(m.group(1)), part, text), 0
    return None


def _hour_value(w: object) -> int | None:
    if w in ("noon", "midnight"):
        return 12
    if isinstance(w, _Spelled) and w > 12:
        return None
    return w if isinstance(w, int) and not isinstance(w, bool) else None


def _match_words(tokens: list[object], text: str) -> tuple[int, int, list[object]]:
    """Find the time phrase among the tokens; returns (hour 0..23, minute, leftover tokens)."""
    n = len(tokens)
    for i, w in enumerate(tokens):
        # "<m> past|to <h>", "quarter past <h>", "twenty minutes to <h>"
        amount = FRACTIONS.get(w) if isinstance(w, str) else w if isinstance(w, int) else None
        if isinstance(w, tuple):  # "oh five past one"
            amount = w[1]
        if w in ("a", "an") and i + 1 < n and tokens[i + 1] == "minute":  # "a minute to noon"
            amount = 1
        if amount is not None:
            j = i + 1
            if j < n and tokens[j] in ("minutes", "minute", "mins", "min"):
                j += 1
            if j + 1 < n and tokens[j] in PAST | TO and _hour_value(tokens[j + 1]) is not None:
                hour, rel = _hour_value(tokens[j + 1]), tokens[j]
                if not 1 <= amount <= 59 or (w == "half" and rel in TO):
                    raise _error(text, f"{amount} minutes {rel} the hour")
                if rel in PAST:
                    return hour, amount, tokens[:i] + tokens[j + 2 :]
                return (hour - 1) % 24 if hour else 23, 60 - amount, tokens[:i] + tokens[j + 2 :]
            if j < n and tokens[j] in PAST | TO:  # "ten to" with no hour is not ten o'clock
                raise _error(text, f"{tokens[j]!r} needs the hour after it")
        # "half seven" (British: half past seven)
        if w == "half" and i + 1 < n and _hour_value(tokens[i + 1]) is not None:
            return _hour_value(tokens[i + 1]), 30, tokens[:i] + tokens[i + 2 :]
    for i, w in enumerate(tokens):
        if isinstance(w, int) and tokens[i + 1 : i + 2] == ["hundred"]:  # "thirteen hundred (hours)": 13:00
            return int(w), 0, tokens[:i] + tokens[i + 2 :]
        hour = _hour_value(w)
        if hour is None:
            continue
        nxt = tokens[i + 1] if i + 1 < n else None
        frac = i + 2 + (i + 2 < n and tokens[i + 2] in ("a", "an"))
        if nxt == "and" and frac < n and tokens[frac] in FRACTIONS:  # "three and a half", "3 and a quarter"
            return hour, FRACTIONS[tokens[frac]], tokens[:i] + tokens[frac + 1 :]
        if isinstance(nxt, tuple):  # "seven oh five"
            return hour, nxt[1], tokens[:i] + tokens[i + 2 :]
        if isinstance(nxt, int) and w not in ("noon", "midnight"):  # "three forty-five", "3 45", "3 05"
            if nxt > 59:
                raise _error(text, f"minute {nxt} is not in 0..59")
            if nxt < 10 and not isinstance(nxt, _Padded):  # "three five", "twenty two four" (a typo'd "to")
                raise _error(text, f'say minutes under ten as "oh {nxt}" or "0{nxt}"')
            return hour, nxt, tokens[:i] + tokens[i + 2 :]
        # "3 o'clock", "three", "noon", "3 pm"
        return hour, 0, tokens[:i] + tokens[i + 1 :]
    raise _NoMatch


def parse_time(text: str) -> tuple[int, int]:
    """Read a time of day from ``text`` -> ``(hour, minute)``, hour 0..11 on the dial.

    Raises ``ValueError`` quoting the input and listing accepted forms when it cannot.
    """
    if not isinstance(text, str):
        raise TypeError(f"parse_time expects a string, got {type(text).__name__}")
    norm = _normalize(text)
    digital = _parse_digital(norm, text)
    if digital is not None:
        return digital
    stray = next(
        (
            m
            for m in _NUMBER.finditer(norm)
            if not _LONE_NUMBER.match(norm, m.start()) or _LONE_NUMBER.match(norm, m.start()).end() != m.end()
        ),
        None,
    )
    if stray is not None:
        chunk = re.search(r"\S*$", norm[: stray.start()]).group() + re.match(r"\S*", norm[stray.start() :]).group()
        raise _error(text, f"a sign, separator or letter is stuck to a number in {chunk!r}")
    tokens = _merge_numbers(_words(norm))
    try:
        hour, minute, rest = _match_words(tokens, text)
    except _NoMatch:
        raise _error(text) from None
    if isinstance(hour, int) and hour == 12 and any(t in ("noon", "midnight") for t in tokens):
        rest = [t for t in rest if t not in ("noon", "midnight")]
    part = _check_rest(rest, text)
    if not 0 <= minute <= 59:
        raise _error(text, f"minute {minute} is not in 0..59")
    return _clock_hour(hour, part, text), minute


def _number_words(n: int) -> str:
    if n < 20:
        return UNITS[n]
    tens = {v: k for k, v in TENS.items()}[n - n % 10]
    return tens if n % 10 == 0 else f"{tens}-{UNITS[n % 10]}"


STYLES = ("digital", "padded", "24h", "words", "spoken", "sentence")


def format_time(hour: int, minute: int, style: str = "digital") -> str:
    """Write ``hour:minute`` (hour 0..11 on the dial, 0 is twelve) in one of ``STYLES``:

    digital "3:45", padded "03:45", 24h "15:45" (afternoon reading), words
    "three forty-five", spoken "quarter to four", sentence "a clock showing quarter to four".
    """
    if not (0 <= hour <= 11 and 0 <= minute <= 59):
        raise ValueError(f"need hour in 0..11 and minute in 0..59, got {hour}:{minute}")
    h12 = hour or 12
    if style == "digital":
        return f"{h12}:{minute:02d}"
    if style == "padded":
        return f"{h12:02d}:{minute:02d}"
    if style == "24h":
        return f"{hour + 12}:{minute:02d}"
    if style == "words":
        if minute == 0:
            return f"{_number_words(h12)} o'clock"
        mins = f"oh {_number_words(minute)}" if minute < 10 else _number_words(minute)
        return f"{_number_words(h12)} {mins}"
    if style == "spoken":
        nxt = _number_words((hour + 1) % 12 or 12)
        if minute == 0:
            return f"{_number_words(h12)} o'clock"
        if minute == 15:
            return f"quarter past {_number_words(h12)}"
        if minute == 30:
            return f"half past {_number_words(h12)}"
        if minute == 45:
            return f"quarter to {nxt}"
        unit = "" if minute % 5 == 0 else (" minute" if minute in (1, 59) else " minutes")
        if minute < 30:
            return f"{_number_words(minute)}{unit} past {_number_words(h12)}"
        return f"{_number_words(60 - minute)}{unit} to {nxt}"
    if style == "sentence":
        return f"a clock showing {format_time(hour, minute, 'spoken')}"
    raise ValueError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
