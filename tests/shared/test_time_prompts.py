import re
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.time_prompts import STYLES, format_time, parse_time

KNOWN = {
    "3:45": (3, 45),
    "03:45": (3, 45),
    "15:45": (3, 45),
    "3.45": (3, 45),
    "3:45 pm": (3, 45),
    "3:45PM": (3, 45),
    "3 o'clock": (3, 0),
    "three o’clock": (3, 0),
    "quarter past three": (3, 15),
    "half past seven": (7, 30),
    "quarter to nine": (8, 45),
    "ten to six": (5, 50),
    "twenty-five past 11": (11, 25),
    "noon": (0, 0),
    "midnight": (0, 0),
    "7h05": (7, 5),
    "draw a clock showing quarter past three": (3, 15),
    "  QUARTER   PAST   THREE ": (3, 15),
    "three forty-five": (3, 45),
    "seven oh five": (7, 5),
    "half three": (3, 30),
    "ten to one": (0, 50),
    "quarter to twelve": (11, 45),
    "12:00 am": (0, 0),
    "1545": (3, 45),
    "it's ten past two": (2, 10),
    "20 minutes past 4": (4, 20),
    "3pm": (3, 0),
    "a clock at 10:10": (10, 10),
    "6:30 in the evening": (6, 30),
    "one minute to four": (3, 59),
    "time: 3:15": (3, 15),
    "03:15:30": (3, 15),
    '"3:15"': (3, 15),
    "quarter after three": (3, 15),
    "5 to 3": (2, 55),
    "quarter til four": (3, 45),
    "quarter 'til six": (5, 45),
    "ten ’til 3": (2, 50),
    "twelve thirty": (0, 30),
    "15h30": (3, 30),
    "2:30 P.M.": (2, 30),
    "quarter to midnight": (11, 45),
    "what's 9:45": (9, 45),
    "midday": (0, 0),
    "quarter to mid-day": (11, 45),
    "three and a half": (3, 30),
    "8 and a quarter": (8, 15),
    # the rest of the README's list, and what may touch a time: quotes, brackets, one closing mark
    "half seven": (7, 30),
    "a minute past one": (1, 1),
    "a minute to noon": (11, 59),
    "３：１５": (3, 15),  # full-width, as an IME types it
    "ｈａｌｆ ｐａｓｔ ｓｅｖｅｎ": (7, 30),
    "draw a clock showing 3:45.": (3, 45),
    "(10:10)": (10, 10),
    "'3.45'!": (3, 45),
    "quarter past three?": (3, 15),
    "7 05": (7, 5),
    "3 45": (3, 45),
    "[15h30]": (3, 30),
    "3h": (3, 0),
    "twelve o'clock": (0, 0),
    "at 3pm, please": (3, 0),
    # the end of the day, three-digit times, the old "five and twenty", military hours
    "24:00": (0, 0),
    "930": (9, 30),
    "draw 130": (1, 30),
    "five and twenty past four": (4, 25),
    "five-and-twenty to ten": (9, 35),
    "thirteen hundred hours": (1, 0),
    "twenty-three hundred": (11, 0),
    "0 hundred hours": (0, 0),
    # minutes as "oh five" or three quarters
    "oh five past one": (1, 5),
    "three quarters past two": (2, 45),
    "three-quarters to three": (2, 15),
    "three and three quarters": (3, 45),
}


@pytest.mark.parametrize("text,expected", KNOWN.items())
def test_known_phrasings(text, expected):
    assert parse_time(text) == expected


REFUSED = [
    "-1:00",
    "+3:15",
    "3::15",
    "3:15:",
    "3..15",
    "3.:15",
    "3:.15",
    "3:15::",
    "3:15..",
    ".3:15",
    ":3:15",
    "3:15:3",
    "13:155",
    "3:045",
    "003:45",
    "3:15 7",
    "7 3:15",
    "3:15 15",
    "3-45",
    "3/45",
    "3:45x",
    "3:45h",
    "at3:45",
    "x1545",
    "15450",
    "-3 o'clock",
    "quarter past 3x",
    "quarter past -3",
    "ten to 6.5",
    "time:3:15",
    "3,15",
    "three five",
    "3 5",
    "twenty two ten",
    "fifteen forty-five",
    "quarter past fifteen",
    "24:01",
    "24:30",
    "960",
    "twenty five hundred",
    "quarter past three hundred",
    # "past" / "to" with no hour after them: not the amount read as an hour
    "ten to",
    "quarter past",
    "five minutes to",
    "draw a clock at twenty to, please",
]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "banana",
        "25:00",
        "3:75",
        "banana 3:45",
        "clock",
        "13 pm",
        "half to three",
        "half past eleven and a half",
        *REFUSED,
    ],
)
def test_unparsable_raises_with_the_input_and_accepted_forms(text):
    with pytest.raises(ValueError) as err:
        parse_time(text)
    assert repr(text) in str(err.value)
    assert "accepted forms" in str(err.value)


def test_every_formatted_time_parses_back():
    for hour in range(12):
        for minute in range(60):
            for style in STYLES:
                assert parse_time(format_time(hour, minute, style)) == (hour, minute), format_time(hour, minute, style)


@given(st.integers(0, 11), st.integers(0, 59), st.sampled_from(STYLES), st.booleans())
def test_case_and_spacing_do_not_matter(hour, minute, style, upper):
    text = format_time(hour, minute, style)
    text = "  " + (text.upper() if upper else text.title()).replace(" ", "   ") + " "
    assert parse_time(text) == (hour, minute)


def test_format_time_rejects_bad_input():
    with pytest.raises(ValueError, match="hour in 0..11"):
        format_time(12, 0)
    with pytest.raises(ValueError, match="unknown style"):
        format_time(1, 0, "klingon")


# One character typed by mistake: punctuation, a letter or a digit, anywhere.
TYPOS = string.punctuation + string.ascii_letters + string.digits + "’“”"
DIGITAL = re.compile(r"(\d{1,2}):(\d{2})")


def reads_as_itself_or_is_refused(typo: str, hour: int, minute: int) -> None:
    """``typo`` reads as (hour, minute) or raises ValueError: never another time, never another error.

    A digit can make another well-formed time ("3:45" -> "13:45", "1:05" -> "10:05"): that one
    must read as what it says.
    """
    try:
        got = parse_time(typo)
    except ValueError as e:
        assert repr(typo) in str(e) and "accepted forms" in str(e)
        return
    other = DIGITAL.fullmatch(typo)
    if other and int(other[1]) <= 23 and int(other[2]) <= 59:
        assert got == (int(other[1]) % 12, int(other[2])), typo
    else:
        assert got == (hour, minute), typo


@settings(max_examples=1500, deadline=None, derandomize=True)
@given(st.integers(0, 11), st.integers(0, 59), st.sampled_from(STYLES), st.data())
def test_a_typo_reads_the_same_time_or_is_refused(hour, minute, style, data):
    text = format_time(hour, minute, style)
    assert parse_time(text) == (hour, minute)
    at = data.draw(st.integers(0, len(text)), label="at")
    typo = text[:at] + data.draw(st.sampled_from(TYPOS), label="char") + text[at:]
    reads_as_itself_or_is_refused(typo, hour, minute)


@pytest.mark.parametrize(
    "text",
    [
        "twenty to ten",
        "ten to six",
        "3:45",
        "1:05",
        "15:45",
        "seven oh five",
        "a clock showing quarter to four",
        "twelve thirty",
        "three quarters past two",
    ],
)
def test_every_one_character_typo_of_tricky_prompts(text):
    """Exhaustively, for prompts where a typo once made another time ("twenty to ten" -> "twenty two ten")."""
    hour, minute = parse_time(text)
    for at in range(len(text) + 1):
        for c in TYPOS:
            reads_as_itself_or_is_refused(text[:at] + c + text[at:], hour, minute)
