"""The figure toolkit: one rule each for decades, edge marks, layer ticks and legends, and no matplotlib on import."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from gradlab.reporters import figure as F


@pytest.mark.parametrize("n", [1, 2, 5, 12, 13, 21, 31, 101, 1001])
def test_layer_ticks_always_show_the_first_and_the_output_layer(n):
    ticks = F.layer_ticks(n)
    assert ticks[0] == 1 and ticks[-1] == n
    assert ticks == sorted(set(ticks)) and len(ticks) <= 13


@pytest.mark.parametrize("labels, width, expected", [
    (["step 0 (init)", "step 8 (last)"], 13, 2),
    (["a" * 100, "b" * 100, "c" * 100], 13, 1),
    (["x"] * 9, 13, 4),
])
def test_legend_columns_fit_the_width(labels, width, expected):
    assert F.legend_columns(labels, width, 8) == expected


def test_narrow_ranges_are_widened_to_two_decades_around_their_centre():
    assert F.widen(-3.0, -2.5) == (-3.75, -1.75)
    assert F.widen(-30.0, 5.0) == (-30.0, 5.0)
    assert F.color_range(np.array([1.0, 1.5, -np.inf, np.nan, np.inf])) == (0.25, 2.25)  # only finite values count
    assert F.color_range(np.array([np.nan, -np.inf])) == (-0.5, 1.5)


def test_heat_map_cells_route_zero_and_infinity_to_the_ends_of_the_scale():
    cells = F.log_cells(np.array([-np.inf, 0.5, np.inf, np.nan]), 0.0, 1.0)
    assert list(cells.filled(99)) == [-1.0, 0.5, 2.0, 99]
    assert [F.colorbar_extend(u, o) for u, o in ((0, 0), (1, 0), (0, 1), (1, 1))] == ["neither", "min", "max", "both"]


@pytest.mark.parametrize("values", [[1e-300, 1e300], [3.0, 3.0], [0.0, np.nan, 2.0, np.inf], [0.0]])
def test_log_axis_survives_any_float64(values):
    fig = F.figure(4, 3)
    ax = fig.subplots()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.log_axis(ax, values, min_decades=F.MIN_DECADES)
        F.png_bytes(fig)
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_ylim()
    assert 0 < lo < hi < np.inf


def test_edge_marks_sit_on_the_edges_and_say_whether_they_drew():
    ax = F.figure(4, 3).subplots()
    x = np.arange(3.0)
    assert not F.edge_marks(ax, x, np.zeros(3, bool), "red")
    assert F.edge_marks(ax, x, np.array([True, False, True]), "red")
    assert F.edge_marks(ax, x, np.array([False, True, False]), "red", top=True, size=7)
    bottom, top = ax.get_lines()
    assert list(bottom.get_ydata()) == [0.03, 0.03] and bottom.get_marker() == "v"
    assert list(top.get_ydata()) == [0.97] and top.get_marker() == "^" and top.get_markersize() == 7
    assert F.edge_handle("zero", top=True).get_marker() == "^"


def test_importing_the_toolkit_does_not_import_matplotlib():
    code = "import gradlab.reporters.figure, sys; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
