import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.time_prompts import STYLES, format_time, parse_time

KNOWN = {
    "3:45": (3, 45), "03:45": (3, 45), "15:45": (3, 45), "3.45": (3, 45), "3:45 pm": (3, 45),
    "3:45PM": (3, 45), "3 o'clock": (3, 0), "three o’clock": (3, 0), "quarter past three": (3, 15),
    "half past seven": (7, 30), "quarter to nine": (8, 45), "ten to six": (5, 50),
    "twenty-five past 11": (11, 25), "noon": (0, 0), "midnight": (0, 0), "7h05": (7, 5),
    "draw a clock showing quarter past three": (3, 15), "  QUARTER   PAST   THREE ": (3, 15),
    "three forty-five": (3, 45), "seven oh five": (7, 5), "half three": (3, 30),
    "ten to one": (0, 50), "quarter to twelve": (11, 45), "12:00 am": (0, 0), "1545": (3, 45),
    "it's ten past two": (2, 10), "20 minutes past 4": (4, 20), "3pm": (3, 0),
    "a clock at 10:10": (10, 10), "6:30 in the evening": (6, 30), "one minute to four": (3, 59),
    "time: 3:15": (3, 15), "03:15:30": (3, 15), '"3:15"': (3, 15), "quarter after three": (3, 15),
    "5 to 3": (2, 55), "quarter til four": (3, 45), "twelve thirty": (0, 30), "15h30": (3, 30),
    "2:30 P.M.": (2, 30), "quarter to midnight": (11, 45), "what's 9:45": (9, 45),
    "midday": (0, 0), "quarter to mid-day": (11, 45), "three and a half": (3, 30), "8 and a quarter": (8, 15),
}


@pytest.mark.parametrize("text,expected", KNOWN.items())
def test_known_phrasings(text, expected):
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "banana", "25:00", "3:75", "banana 3:45", "clock", "13 pm", "half to three",
                                  "half past eleven and a half"])
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
