"""Sweep axes: the range syntax, paired axes, merging and the grid order."""

import pytest

from gradlab.errors import UsageError
from gradlab.grid import Axis, expand, make_axis, merge_axes, parse_grid_option, parse_values


@pytest.mark.parametrize("spec, values", [
    ("2..50", list(range(2, 51))),
    ("2..50:4", [2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50]),
    ("2..9:4", [2, 6]),
    ("5..5", [5]),
    ("2,4,8,16", [2, 4, 8, 16]),
    ("1e-3..1:x10", [0.001, 0.01, 0.1, 1.0]),
    ("2..64:x2", [2, 4, 8, 16, 32, 64]),
    ("0.5..2:x2", [0.5, 1.0, 2.0]),
    ("0.1..0.5:0.1", [0.1, 0.2, 0.3, 0.4, 0.5]),
    ("-1..1", [-1, 0, 1]),
    ("off,on", [False, True]),
    ("xavier_normal, he_normal ,large", ["xavier_normal", "he_normal", "large"]),
    ("1e-3,0.1", [0.001, 0.1]),
    ("64", [64]),
])
def test_range_syntax(spec, values):
    assert parse_values(spec) == values
    assert [type(v) for v in parse_values(spec)] == [type(v) for v in values]


@pytest.mark.parametrize("spec, says", [
    ("2..", "not a range"),
    ("a..5", "the start 'a' is not a number"),
    ("2..b", "the end 'b' is not a number"),
    ("5..2", "the range is empty"),
    ("1..10:0", "the step must be positive"),
    ("1..10:-2", "the step must be positive"),
    ("1..10:x1", "a factor above 1"),
    ("0..1:x10", "positive ends"),
    ("1..1e9", "more than"),
    ("2,,4", "an empty item"),
    ("", "no values"),
    ("[8,16", "not valid YAML"),
])
def test_bad_ranges_say_what_is_wrong_and_show_the_right_form(spec, says):
    with pytest.raises(UsageError) as exc:
        parse_values(spec, "--depth")
    text = str(exc.value)
    assert says in text and "--depth" in text
    if spec:
        assert "2..50:4" in text or "e.g." in text


def test_a_paired_axis_moves_its_fields_together():
    axis = make_axis("model.activation+model.init", "sigmoid+xavier_normal,relu+he_normal")
    assert axis.keys == ("model.activation", "model.init")
    assert axis.values == (("sigmoid", "xavier_normal"), ("relu", "he_normal"))
    assert axis.labels() == ["sigmoid+xavier_normal", "relu+he_normal"]
    with pytest.raises(UsageError, match="each value must set all 2 fields"):
        make_axis("model.activation+model.init", "sigmoid")


@pytest.mark.parametrize("option, says", [
    ("model.depth", "expected key.path=values"),
    ("model..depth=2..5", "not a config path"),
    ("model.depth=2,2", "listed twice"),
])
def test_bad_grid_options(option, says):
    with pytest.raises(UsageError, match=says):
        parse_grid_option(option)


def test_grid_is_the_cartesian_product_first_axis_slowest():
    axes = [make_axis("model.depth", "2,3"), make_axis("model.batchnorm", "off,on")]
    assert expand(axes) == [{"model.depth": 2, "model.batchnorm": False}, {"model.depth": 2, "model.batchnorm": True},
                            {"model.depth": 3, "model.batchnorm": False}, {"model.depth": 3, "model.batchnorm": True}]


def test_a_later_axis_replaces_an_earlier_one_in_place():
    depth, pair = make_axis("model.depth", "2..4"), make_axis("model.activation+model.init", [["relu", "he_normal"]])
    width = make_axis("model.width", "8,16")
    merged = merge_axes([depth, pair, width, make_axis("model.depth", "5,6"), make_axis("model.activation", "tanh")])
    assert [a.name for a in merged] == ["model.depth", "model.activation", "model.width"]
    assert merged[0].values == ((5,), (6,))
    assert isinstance(merged[1], Axis) and merged[1].values == (("tanh",),)


def test_the_grid_product_is_checked_before_expanding():
    from gradlab.grid import MAX_POINTS, check_size, expand

    axes = [make_axis("model.depth", "1..100000"), make_axis("model.width", "1..100000")]
    with pytest.raises(UsageError, match=r"10,000,000,000 points = model.depth \(100000\) × model.width \(100000\)"):
        expand(axes)
    assert check_size(axes[:1]) == 100_000 <= MAX_POINTS


def test_a_geometric_range_whose_ends_overflow_their_ratio_is_counted_not_crashed():
    with pytest.raises(UsageError, match="13816202 values is more than"):
        parse_values("1e-300..1e300:x1.0001")
    assert parse_values("1e-300..1e300:x1e100") == [1e-300, 1e-200, 1e-100, 1.0, 1e100, 1e200, 1e300]
