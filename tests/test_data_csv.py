"""Property test for the CSV loader: whatever bytes a file holds, ``make_dataset("csv", ...)`` either gives
finite arrays with at least two classes or raises a one-line DataError naming the file; nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from gradlab.engine.data import make_dataset
from gradlab.errors import DataError

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NAMES = ["x1", "x2", "label", " label", "Label", "", "x1"]
CELLS = ["0", "1", "-2.5", "1e-320", "1e99", "1e101", "1e308", "nan", "-inf", "", " ", "a", "b", "é", '"', '"a,b"',
         "\x00", "\ufeff1"]
numbers = st.floats(allow_nan=True, allow_infinity=True).map(repr)
cells = st.one_of(st.sampled_from(CELLS), numbers, st.text(max_size=4))


@st.composite
def csv_texts(draw) -> bytes:
    """Small CSV files: valid ones with an occasional bad cell, and ones with any header, width and cells."""
    if draw(st.booleans()):
        header = ["x1", "x2", "label"]
        fine = st.tuples(st.floats(-1e6, 1e6).map(repr), st.integers(-9, 9).map(str), st.sampled_from("ab"))
        rows = draw(st.lists(st.one_of(fine.map(list), fine.map(list), fine.map(list),
                                       st.lists(cells, min_size=3, max_size=3)), max_size=12))
    else:
        header = draw(st.lists(st.sampled_from(NAMES), min_size=1, max_size=4))
        width = st.integers(max(1, len(header) - 1), len(header) + 1)
        rows = draw(st.lists(width.flatmap(lambda n: st.lists(cells, min_size=n, max_size=n)), max_size=12))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = eol.join(",".join(r) for r in [header, *rows]) + draw(st.sampled_from(["", eol]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1"]))
    return text.encode(encoding, "replace")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("csv")


def check_loads_or_refuses(path, n_samples, test_fraction, dtype):
    try:
        d = make_dataset("csv", n_samples, np.random.default_rng(0), path=str(path), test_fraction=test_fraction,
                         dtype=dtype)
    except DataError as exc:
        msg = str(exc)
        assert "\n" not in msg and str(path) in msg, msg
        return
    assert np.all(np.isfinite(d.X_train)) and np.all(np.isfinite(d.X_test))
    assert d.X_train.dtype == dtype and d.n_features >= 1 and len(d.y_train) >= 1
    labels = np.concatenate([d.y_train, d.y_test])
    assert len(np.unique(labels)) >= 2 and d.n_classes >= 2
    assert labels.min() >= 0 and labels.max() < d.n_classes


@settings(max_examples=300, deadline=None)
@given(content=st.one_of(st.binary(max_size=200), csv_texts()), n_samples=st.integers(1, 20),
       test_fraction=st.sampled_from([0.0, 0.2, 0.5, 0.9]), dtype=st.sampled_from([np.float64, np.float32]))
def test_any_file_loads_finite_or_raises_dataset_error(folder, content, n_samples, test_fraction, dtype):
    path = folder / "fuzz.csv"
    path.write_bytes(content)
    check_loads_or_refuses(path, n_samples, test_fraction, dtype)
