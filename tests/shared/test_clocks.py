import numpy as np
import pytest

from shared.clocks import MARKS, hand_angles, random_style, render_clock


def test_render_is_rgb_of_the_asked_size_and_deterministic():
    a = render_clock(3, 15, seed=7)
    assert a.mode == "RGB" and a.size == (64, 64)
    assert np.array_equal(np.asarray(a), np.asarray(render_clock(3, 15, seed=7)))
    assert render_clock(3, 15, size=96, seed=7).size == (96, 96)


def test_different_times_draw_different_pictures():
    style = random_style(3)
    a, b = (np.asarray(render_clock(h, m, style=style, seed=1)).astype(int) for h, m in ((3, 15), (9, 45)))
    assert np.abs(a - b).sum() > 1000


def test_hour_hand_moves_with_the_minutes():
    assert hand_angles(3, 30) == (105.0, 180.0)  # halfway between 3 (90) and 4 (120)
    assert hand_angles(15, 0) == hand_angles(3, 0)


def test_styles_vary_and_hands_stay_distinct():
    styles = [random_style(s) for s in range(200)]
    assert {s.marks for s in styles} == set(MARKS)
    assert any(s.second_hand for s in styles) and not all(s.second_hand for s in styles)
    for s in styles:
        assert s.hour_hand.length < 0.6 < s.minute_hand.length
        assert s.minute_hand.width <= 0.6 * s.hour_hand.width
        if s.second_hand:
            assert s.second_hand.width < s.minute_hand.width and s.second_hand.length > s.minute_hand.length


def test_minute_hand_is_drawn_where_the_time_says():
    style = random_style(0)
    # the minute hand at 15 points right: darker ink right of centre than left, at 12:15
    img = np.asarray(render_clock(0, 15, style=style, size=64, seed=0).convert("L")).astype(float)
    face = float(np.median(img[20:44, 20:44]))
    right = np.abs(img[31:33, 40:52] - face).sum()
    left = np.abs(img[31:33, 12:24] - face).sum()
    assert right > 2 * left


@pytest.mark.parametrize("hour,minute", [(12, 60), (-1, 0), (24, 0), (3, -5)])
def test_bad_times_raise(hour, minute):
    with pytest.raises(ValueError):
        render_clock(hour, minute)
