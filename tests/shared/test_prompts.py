"""Prompts to conditions: style words beside a time, unused words reported, not dropped."""

import pytest

from shared.clocks import STYLE_FIELDS, random_style, style_phrase
from shared.prompts import parse_prompt
from shared.time_prompts import STYLES, format_time

CLOCK = {"hour": range(12), "minute": range(60), **STYLE_FIELDS}


@pytest.mark.parametrize(
    ("text", "conditions"),
    [
        (
            "a red square clock with roman numerals showing quarter past three",
            {"face_color": "red", "shape": "square", "numerals": "roman", "hour": 3, "minute": 15},
        ),
        ("blue clock, 7:40", {"face_color": "blue", "hour": 7, "minute": 40}),
        (
            "a green clock with red hands on a blue background",
            {"face_color": "green", "hand_color": "red", "background_color": "blue"},
        ),
        (
            "round clock with round hands and no numerals at 10:10",
            {"shape": "round", "hand_shape": "round", "numerals": "none", "hour": 10, "minute": 10},
        ),
        ("a clock without a second hand, 3:45", {"second_hand": "no", "hour": 3, "minute": 45}),
        ("a clock with a seconds hand at noon", {"second_hand": "yes", "hour": 0, "minute": 0}),
        (
            "striped background, navy face, thick rim",
            {"background_style": "stripes", "face_color": "navy", "rim": "thick"},
        ),
        ("gray clock without ticks, ten to six", {"face_color": "grey", "ticks": "none", "hour": 5, "minute": 50}),
        ("an octagonal clock at 2:30", {"shape": "octagon", "hour": 2, "minute": 30}),
        (
            "a crimson clock with gold hands, 7:07",
            {"face_color": "red", "hand_color": "yellow", "hour": 7, "minute": 7},
        ),
        # "quarters" is part of the time, not an unknown word that leaves "three past two"
        ("a pink clock at three quarters past two", {"face_color": "pink", "hour": 2, "minute": 45}),
        # plurals, compounds and synonyms as people write them
        ("a clock with minute ticks at 5:55", {"ticks": "minutes", "hour": 5, "minute": 55}),
        ("hour ticks and tapered hands, 2:10", {"ticks": "hours", "hand_shape": "taper", "hour": 2, "minute": 10}),
        (
            "a rimless clock with diamond-shaped hands at 8:08",
            {"rim": "none", "hand_shape": "diamond", "hour": 8, "minute": 8},
        ),
        ("a red-faced clock with a thin border", {"face_color": "red", "rim": "thin"}),
        ("a tickless clock on a polka dot background", {"ticks": "none", "background_style": "dots"}),
        ("it's 10:30 a.m., blue face", {"face_color": "blue", "hour": 10, "minute": 30}),
        ("three o'clock on the dot", {"hour": 3, "minute": 0}),  # exactly, not dotted ticks
        ("a square clock at round about three", {"shape": "square", "hour": 3, "minute": 0}),
        ("a 12-hour clock with 12 roman numerals at 3:15", {"numerals": "roman", "hour": 3, "minute": 15}),
        ("a clock with a stripe background at 3", {"background_style": "stripes", "hour": 3, "minute": 0}),
        (
            "a round clock with ball-tipped hands at 4:44",
            {"shape": "round", "hand_shape": "round", "hour": 4, "minute": 44},
        ),
    ],
)
def test_style_words_beside_the_time(text, conditions):
    prompt = parse_prompt(text, CLOCK)
    assert prompt.conditions == conditions and prompt.unused == []


def test_every_time_in_every_style_still_reads():
    for hour in range(12):
        for minute in range(0, 60, 7):
            for style in STYLES:
                assert parse_prompt(format_time(hour, minute, style), CLOCK).conditions == {
                    "hour": hour,
                    "minute": minute,
                }


def test_a_style_phrase_reads_back_as_its_labels():
    for seed in range(300):
        labels = random_style(seed).labels
        prompt = parse_prompt(f"The clock shows 11:05, {style_phrase(labels)}.", CLOCK)
        assert prompt.conditions == {"hour": 11, "minute": 5, **labels} and prompt.unused == []
    with pytest.raises(ValueError, match="no rim, second_hand in the labels"):
        style_phrase({k: v for k, v in labels.items() if k not in ("rim", "second_hand")})


def test_two_word_colours_are_one_value():
    prompt = parse_prompt("a navy blue clock with dark red hands on a sky-blue background, 4:20", CLOCK)
    assert prompt.unused == []
    assert prompt.conditions == {
        "face_color": "navy",
        "hand_color": "red",
        "background_color": "sky",
        "hour": 4,
        "minute": 20,
    }
    # punctuation parts the words: "light" alone is no colour
    prompt = parse_prompt("a light, blue clock at 1", CLOCK)
    assert prompt.conditions == {"face_color": "blue", "hour": 1, "minute": 0} and prompt.unused == ["light"]
    # a colour that the named field lacks is reported as typed
    prompt = parse_prompt("light blue hands, 5:05", CLOCK)
    assert prompt.conditions == {"hour": 5, "minute": 5} and prompt.unused == ["light blue"]
    # full-width, as an IME types it
    wide = parse_prompt("ｒｅｄ ｃｌｏｃｋ　４：２０", CLOCK)
    assert wide.conditions == {"face_color": "red", "hour": 4, "minute": 20} and wide.unused == []


def test_unknown_words_are_reported_not_dropped():
    prompt = parse_prompt("a banana clock in mauve at 3:45", CLOCK)
    assert prompt.conditions == {"hour": 3, "minute": 45} and prompt.unused == ["banana", "mauve"]


def test_a_value_beside_another_fields_name_is_not_given_to_its_own_field():
    # "thin" is a rim, not a hand shape: thin hands cannot be drawn, and are not read as a thin rim
    prompt = parse_prompt("a clock with thin hands at 3:33", CLOCK)
    assert prompt.conditions == {"hour": 3, "minute": 33} and prompt.unused == ["thin"]
    prompt = parse_prompt("a clock with a red second hand at 1:10", CLOCK)
    assert prompt.conditions == {"second_hand": "yes", "hour": 1, "minute": 10} and prompt.unused == ["red"]


def test_synonyms_give_way_to_the_fields_own_values():
    fields = {"color": ("gray", "crimson"), "shape": ("octagonal", "round")}
    assert parse_prompt("a gray octagonal", fields).conditions == {"color": "gray", "shape": "octagonal"}
    prompt = parse_prompt("a scarlet round", fields)  # read as red, which these fields lack: reported as typed
    assert prompt.conditions == {"shape": "round"} and prompt.unused == ["scarlet"]


def test_no_time_and_no_field_is_refused_as_before():
    with pytest.raises(ValueError, match="accepted forms"):
        parse_prompt("a clock", CLOCK)
    with pytest.raises(ValueError, match="stuck to a number"):
        parse_prompt("a red clock at -1:00", CLOCK)
    # the message quotes the prompt as typed, not what was left of it for the time
    with pytest.raises(ValueError, match="^cannot read 'a red clock at ten to,"):
        parse_prompt("a red clock at ten to, please", CLOCK)


def test_a_label_with_an_apostrophe_s_is_its_own_value():
    prompt = parse_prompt("a men's shoe", {"label": ("men's", "women's")})
    assert prompt.conditions == {"label": "men's"} and prompt.unused == ["shoe"]


def test_fields_of_other_data():
    glyphs = {"character": ("A", "B", "Q"), "font": ("DejaVu Sans", "Liberation Serif")}
    prompt = parse_prompt("the letter q in liberation serif", glyphs)
    assert prompt.conditions == {"character": "Q", "font": "Liberation Serif"} and prompt.unused == ["letter"]
    with pytest.raises(ValueError, match="names no value"):
        parse_prompt("something else", glyphs)
