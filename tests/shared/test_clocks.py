from dataclasses import replace

import numpy as np
import pytest

from shared.clocks import (
    HAND_PALETTE,
    HELD_OUT_STYLE,
    MIN_HAND_CONTRAST,
    PALETTE,
    STYLE_FIELDS,
    contrast,
    hand_angles,
    hand_colors_for,
    is_held_out,
    nearest_name,
    random_style,
    render_clock,
)

STYLES = [random_style(s) for s in range(300)]


def test_render_is_rgb_of_the_asked_size_and_deterministic():
    a = render_clock(3, 15, seed=7)
    assert a.mode == "RGB" and a.size == (64, 64)
    assert np.array_equal(np.asarray(a), np.asarray(render_clock(3, 15, seed=7)))
    assert render_clock(3, 15, size=96, seed=7).size == (96, 96)
    assert random_style(11) == random_style(11) and random_style(11) != random_style(12)


def test_different_times_draw_different_pictures():
    style = random_style(3)
    a, b = (np.asarray(render_clock(h, m, style=style, seed=1)).astype(int) for h, m in ((3, 15), (9, 45)))
    assert np.abs(a - b).sum() > 1000


def test_hour_hand_moves_with_the_minutes():
    assert hand_angles(3, 30) == (105.0, 180.0)  # halfway between 3 (90) and 4 (120)
    assert hand_angles(15, 0) == hand_angles(3, 0)


def test_labels_name_every_field_with_declared_words_and_every_word_appears():
    seen = {f: set() for f in STYLE_FIELDS}
    for s in STYLES:
        assert list(s.labels) == list(STYLE_FIELDS)
        for f, v in s.labels.items():
            assert v in STYLE_FIELDS[f]
            seen[f].add(v)
    assert seen == {f: set(v) for f, v in STYLE_FIELDS.items()}


def test_styles_follow_their_words():
    for s in STYLES:
        labels = s.labels
        assert nearest_name(s.face) == labels["face_color"]
        assert nearest_name(s.background) == labels["background_color"] != labels["face_color"]
        assert nearest_name(s.hour_hand.color, HAND_PALETTE) == labels["hand_color"]
        assert (s.second_hand is not None) == (labels["second_hand"] == "yes")
        assert (s.rim_width > 0) == (labels["rim"] != "none")
        assert s.hour_hand.tip == s.minute_hand.tip == labels["hand_shape"]


def test_face_colours_spread_over_rgb():
    faces = np.array([s.face for s in STYLES])
    assert faces.std(0).min() > 50  # every channel spreads
    reds = np.array([s.face for s in STYLES if s.labels["face_color"] == "red"])
    assert len({tuple(c) for c in reds}) == len(reds) > 5  # jittered, not the palette colour


def test_hands_and_marks_contrast_with_the_face():
    for s in STYLES:
        assert contrast(s.hour_hand.color, s.face) >= MIN_HAND_CONTRAST
        assert contrast(s.minute_hand.color, s.face) >= MIN_HAND_CONTRAST
        assert contrast(s.mark_color, s.face) >= MIN_HAND_CONTRAST
    assert contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    for face in PALETTE:
        assert hand_colors_for(face), face


def test_hands_stay_distinct():
    for s in STYLES:
        assert s.hour_hand.length < 0.6 < s.minute_hand.length
        assert s.minute_hand.width <= 0.6 * s.hour_hand.width
        if s.second_hand:
            assert s.second_hand.width < s.minute_hand.width and s.second_hand.length > s.minute_hand.length


def test_a_round_tip_is_a_ball_that_sets_it_apart_from_a_flat_one():
    # the same clocks, only the hands' tip changed: the ball must survive the downscale to 64 px
    # (a cap of the hand's own width changed 6-17 pixels and readers took it for flat)
    def with_tip(style, tip):
        return replace(
            style, hour_hand=replace(style.hour_hand, tip=tip), minute_hand=replace(style.minute_hand, tip=tip)
        )

    changed = []
    for style in STYLES[:40]:
        a, b = (np.asarray(render_clock(3, 0, style=with_tip(style, t), seed=0), dtype=int) for t in ("flat", "round"))
        changed.append((np.abs(a - b).sum(-1) > 60).sum())
    assert min(changed) >= 18, sorted(changed)


@pytest.mark.parametrize("field", list(STYLE_FIELDS))
def test_fixed_fields_are_honoured(field):
    for i, value in enumerate(STYLE_FIELDS[field]):
        fixed = {field: value}
        s = random_style(100 + i, **fixed)
        assert s.labels[field] == value
    s = random_style(3, face_color="red", shape="square", numerals="roman")
    assert (s.labels["face_color"], s.labels["shape"], s.labels["numerals"]) == ("red", "square", "roman")
    assert nearest_name(s.face) == "red"


def test_fixing_a_field_leaves_the_others_drawn():
    shapes = {random_style(s, face_color="blue").labels["shape"] for s in range(40)}
    assert len(shapes) == len(STYLE_FIELDS["shape"])


def test_unknown_fields_values_and_clashes_are_refused_listing_what_is_accepted():
    with pytest.raises(ValueError, match="face_color.*shape"):
        random_style(0, colour="red")
    with pytest.raises(ValueError, match="round, square"):
        random_style(0, shape="triangle")
    with pytest.raises(ValueError, match="accepted with face_color='black': white, yellow"):
        random_style(0, face_color="black", hand_color="black")


def test_held_out_region():
    assert is_held_out(random_style(0, **HELD_OUT_STYLE))
    assert is_held_out(HELD_OUT_STYLE) and not is_held_out({**HELD_OUT_STYLE, "shape": "round"})
    assert 0 < sum(map(is_held_out, STYLES + [random_style(s) for s in range(300, 1500)])) < 60


def test_minute_hand_is_drawn_where_the_time_says():
    for seed in range(20):  # the minute hand at 15 points right: more ink right of centre than left, at 12:15
        style = random_style(seed, numerals="none", ticks="none", second_hand="no")
        img = np.asarray(render_clock(0, 15, style=style, size=64, seed=0)).astype(float)
        face = np.asarray(style.face, dtype=float)
        right = np.abs(img[31:33, 38:48] - face).sum()
        left = np.abs(img[31:33, 16:26] - face).sum()
        assert right > 2 * left, seed


def test_face_colour_is_what_the_picture_shows():
    for seed in range(20):
        style = random_style(seed, numerals="none", ticks="none", second_hand="no")
        img = np.asarray(render_clock(6, 0, style=style, size=64, seed=seed))
        assert np.abs(img[20, 44].astype(int) - style.face).max() <= 2  # a spot inside the face, off the hands


@pytest.mark.parametrize("hour,minute", [(12, 60), (-1, 0), (24, 0), (3, -5)])
def test_bad_times_raise(hour, minute):
    with pytest.raises(ValueError):
        render_clock(hour, minute)
