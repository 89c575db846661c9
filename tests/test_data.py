"""Every generator in DATASETS: shapes, labels, seeded determinism; make_dataset's split and standardization;
the CSV loader and its errors; the optional scikit-learn digits."""

from __future__ import annotations

import inspect
import os
from pathlib import Path

import numpy as np
import pytest

from gradlab.engine import data as data_module
from gradlab.engine.data import DATASETS, make_dataset
from gradlab.errors import DataError, GradlabError

GENERATED = sorted(set(DATASETS) - {"csv", "digits"})


def n_classes_of(name):
    p = inspect.signature(DATASETS[name]).parameters.get("n_classes")
    return p.default if p is not None else 2


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("name", GENERATED)
def test_generator_shapes_and_labels(name):
    X, y = DATASETS[name](300, rng(), 0.1)
    assert X.ndim == 2 and X.shape[0] == 300 and X.shape[1] >= 2
    assert y.shape == (300,)
    assert np.issubdtype(y.dtype, np.integer)
    assert np.all(np.isfinite(X))
    k = n_classes_of(name)
    assert set(np.unique(y)) == set(range(k)), (name, np.unique(y))  # every class present, no other label


@pytest.mark.parametrize("name", [n for n in GENERATED if "n_classes" in inspect.signature(DATASETS[n]).parameters])
def test_n_classes_option_is_honoured(name):
    X, y = DATASETS[name](400, rng(), 0.1, n_classes=5)
    assert set(np.unique(y)) == set(range(5))


@pytest.mark.parametrize("name", GENERATED)
def test_same_seed_same_data_other_seed_other_data(name):
    X1, y1 = DATASETS[name](100, rng(7), 0.2)
    X2, y2 = DATASETS[name](100, rng(7), 0.2)
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(y1, y2)
    X3, _ = DATASETS[name](100, rng(8), 0.2)
    assert not np.array_equal(X1, X3)


@pytest.mark.parametrize("name", GENERATED)
def test_noise_changes_the_data(name):
    """Noise moves the points, or (teacher) the labels through noisy logits."""
    X0, y0 = DATASETS[name](200, rng(3), 0.0)
    X1, y1 = DATASETS[name](200, rng(3), 0.5)
    assert not (np.allclose(X0, X1) and np.array_equal(y0, y1))


@pytest.mark.parametrize("name", GENERATED)
def test_make_dataset_splits_and_standardizes(name):
    d = make_dataset(name, 250, rng(1), noise=0.1, test_fraction=0.2)
    assert d.X_train.shape == (200, d.n_features) and d.X_test.shape == (50, d.n_features)
    assert d.y_train.shape == (200,) and d.y_test.shape == (50,)
    assert d.X_train.dtype == np.float64
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(d.X_train.std(axis=0), 1.0, rtol=1e-12)
    assert d.n_classes == n_classes_of(name)
    labels = np.concatenate([d.y_train, d.y_test])
    assert labels.min() >= 0 and labels.max() < d.n_classes
    # the test split is scaled with the training split's statistics, so it is only roughly standard
    assert np.all(np.abs(d.X_test.mean(axis=0)) < 1.0)

    again = make_dataset(name, 250, rng(1), noise=0.1, test_fraction=0.2)
    np.testing.assert_array_equal(d.X_train, again.X_train)
    np.testing.assert_array_equal(d.y_test, again.y_test)


def test_make_dataset_float32_and_shuffled_split():
    d = make_dataset("spirals", 300, rng(2), dtype=np.float32)
    assert d.X_train.dtype == np.float32 and d.X_test.dtype == np.float32
    # the generator emits labels in order 0, 1, 2, 0, ...; the split must not inherit that order
    assert not np.array_equal(d.y_train[:9], np.arange(9) % 3)
    assert set(np.unique(d.y_test)) == {0, 1, 2}


def write_csv(path, rows, header="x1,x2,label"):
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def test_csv_with_string_labels(tmp_path):
    r = np.random.default_rng(0)
    rows, expected = [], {}
    for i in range(40):
        label = ["cat", "dog", "emu"][r.integers(3)] if i >= 3 else ["emu", "cat", "dog"][i]
        a, b = r.normal(), r.normal()
        rows.append(f"{a!r},{b!r},{label}")
        expected[(a, b)] = label
    p = write_csv(tmp_path / "animals.csv", rows)
    X, y = DATASETS["csv"](40, rng(), path=str(p))
    assert X.shape == (40, 2) and y.shape == (40,)
    assert set(np.unique(y)) == {0, 1, 2}
    # each row keeps its own label: the labels map to integers consistently (sorted: cat, dog, emu)
    names = ["cat", "dog", "emu"]
    for row, label in zip(X, y):
        assert expected[(row[0], row[1])] == names[label]
    d = make_dataset("csv", 40, rng(), noise=0.0, test_fraction=0.25, path=str(p))
    assert d.n_classes == 3 and d.n_features == 2
    assert d.X_train.shape == (30, 2)
    np.testing.assert_allclose(d.X_train.mean(axis=0), 0.0, atol=1e-12)


def test_csv_label_column_and_subsampling(tmp_path):
    rows = [f"{i},{2 * i},{i % 2}" for i in range(30)]
    p = write_csv(tmp_path / "d.csv", rows, header="a,target,b")
    X, y = DATASETS["csv"](10, rng(), path=str(p), label_column="target")
    assert X.shape == (10, 2)
    np.testing.assert_array_equal(X[:, 1], X[:, 0] % 2)  # the two feature columns a and b, in file order
    assert len(set(X[:, 0])) == 10  # distinct rows, not repeats


def test_csv_missing_file_raises_a_helpful_dataset_error(tmp_path):
    missing = tmp_path / "nope.csv"
    with pytest.raises(DataError) as info:
        make_dataset("csv", 10, rng(), path=str(missing))
    msg = str(info.value)
    assert "nope.csv" in msg and "data.path" in msg
    assert isinstance(info.value, GradlabError)
    with pytest.raises(DataError, match="data.path"):
        DATASETS["csv"](10, rng())  # no path at all


def test_csv_bad_label_column_and_bad_values(tmp_path):
    p = write_csv(tmp_path / "d.csv", ["1,2,a", "3,4,b"])
    with pytest.raises(DataError) as info:
        DATASETS["csv"](2, rng(), path=str(p), label_column="klass")
    assert "klass" in str(info.value) and "x1" in str(info.value)  # names the bad column and lists the real ones
    bad = write_csv(tmp_path / "bad.csv", ["1,two,a", "3,4,b"])
    with pytest.raises(DataError, match="non-numeric"):
        DATASETS["csv"](2, rng(), path=str(bad))
    empty = write_csv(tmp_path / "empty.csv", [])
    empty.write_text("x1,x2,label\n")
    with pytest.raises(DataError, match="no data rows"):
        DATASETS["csv"](2, rng(), path=str(empty))


def test_digits():
    pytest.importorskip("sklearn")
    X, y = DATASETS["digits"](500, rng())
    assert X.shape == (500, 64) and y.shape == (500,)
    assert set(np.unique(y)) <= set(range(10)) and len(np.unique(y)) == 10
    d = make_dataset("digits", 400, rng(), noise=0.0)
    assert d.n_classes == 10 and d.n_features == 64
    assert np.all(np.isfinite(d.X_train)) and np.all(np.isfinite(d.X_test))  # blank pixels do not give NaN
    same = DATASETS["digits"](500, rng())
    np.testing.assert_array_equal(X, same[0])


def test_every_generator_takes_n_samples_rng_then_keyword_options_that_the_config_knows():
    from gradlab.config import DataConfig

    for name, fn in DATASETS.items():
        params = inspect.signature(fn).parameters
        assert list(params)[:2] == ["n_samples", "rng"], name
        options = list(params)[2:]
        assert all(params[k].default is not inspect.Parameter.empty for k in options), name
        assert set(options) <= {"noise", *DataConfig.OPTIONS}, name
        assert fn.__doc__, name


# ---- the CSV loader on bad input: one DataError, one line, naming the file, line, column and value ----

def csv_error(tmp_path, content, name="d.csv", n_samples=100, **options) -> str:
    """Write ``content`` (text, or bytes as they are) to ``name`` and return the DataError message."""
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(DataError) as info:
        make_dataset("csv", n_samples, rng(), path=str(p), **options)
    msg = str(info.value)
    assert "\n" not in msg and str(p) in msg, msg
    assert info.value.exit_code == 2
    return msg


GOOD = "x1,x2,label\n1,2,a\n3,4,b\n5,6,a\n7,8,b\n"


@pytest.mark.parametrize("text, fragments", [
    ("x1,x2,label\n1,2,a\n3,4\n", [":3:", "2 values for 3 columns", "'label'"]),
    ("x1,x2,label\n1,2,a\n3,4,b,9\n", [":3:", "4 values for 3 columns", "'9'", "'label'"]),
    ("x1,x2,label\n1,2,a\n3,,b\n", [":3 column 'x2'", "missing value"]),
    ("x1,x2,label\n1,2,a\n3,  ,b\n", [":3 column 'x2'", "missing value"]),
    ("x1,x2,label\n1,2,a\n3,two,b\n", [":3 column 'x2'", "non-numeric", "'two'"]),
    ("x1,x2,label\n1,2,a\n3,4,b\nnan,6,a\n", [":4 column 'x1'", "nan", "not finite"]),
    ("x1,x2,label\n1,2,a\n3,inf,b\n", [":3 column 'x2'", "inf", "not finite"]),
    ("x1,x2,label\n1,2,a\n3,-Infinity,b\n", [":3 column 'x2'", "-inf", "not finite"]),
    ("x1,x2,label\n1,2,a\n3,1e308,b\n", [":3 column 'x2'", "1e+308", "too large"]),
    ("x1,x2,label\n1,2,a\n-1e101,4,b\n", [":3 column 'x1'", "-1e+101", "too large"]),
    ("x1,x2,label\n", ["no data rows", "line 1"]),
    ("x1,x2,label\n\n,,\n", ["no data rows", "line 1"]),
    ("label\na\nb\n", [":1:", "'label'", "no feature columns"]),
    ("x1,x2,x1,label\n1,2,3,a\n", [":1 column 'x1'", "duplicate", "columns 1 and 3"]),
    ("x1,,label\n1,2,a\n", [":1:", "column 2 has no name"]),
    ("x1,x2,Label\n1,2,a\n3,4,b\n", [":1:", "'label' is not a column", "x1, x2, Label", "did you mean 'Label'"]),
    ("x1;x2;label\n1;2;a\n3;4;b\n", [":1:", "'label' is not a column", "not be comma-separated"]),
    ("x1,x2,label\n1,2,a\n3,4, \n", [":3 column 'label'", "empty label"]),
    ('x1,x2,label\n1,2,a\n3,4,"b\n5,6,a\n', [":3:", "malformed CSV", "quotes"]),
    ("x1,x2,label\n1,2,a\n1,2,a\n1,2,a\n", ["'label'", "one class", "'a'", "at least two"]),
])
def test_csv_bad_input_is_located(tmp_path, text, fragments):
    msg = csv_error(tmp_path, text, "bad_input.csv")
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_csv_line_numbers_are_the_editors(tmp_path):
    """Blank lines and a quoted label spanning two lines still count, so the line is the one an editor shows."""
    msg = csv_error(tmp_path, 'x1,label\n\n1,"two\nlines"\n2,b\r\n\r\n3,x\n4,c\noops,c\n')
    assert msg.startswith(f"{tmp_path / 'd.csv'}:9 column 'x1': non-numeric value 'oops'"), msg
    old_mac = "x1,label\r1,a\r2,b\r\rthree,a\r"  # Excel for Mac's "CSV (Macintosh)" ends lines with \r alone
    assert ":5 column 'x1'" in csv_error(tmp_path, old_mac)


def test_csv_with_a_byte_order_mark_loads(tmp_path):
    """Excel's 'CSV UTF-8' starts with a BOM, which must not stick to the first column's name."""
    p = tmp_path / "excel.csv"
    p.write_bytes(b"\xef\xbb\xbflabel,x1\nb,1\na,2\nb,3\na,4\n")
    X, y = DATASETS["csv"](4, rng(), path=str(p))
    assert sorted(zip(X[:, 0], y)) == [(1.0, 1), (2.0, 0), (3.0, 1), (4.0, 0)]
    p.write_text("x1,x2,label\n1,2,a\n3,4,b\n5,6,a\n7,8,b\n", encoding="utf-8-sig")
    assert make_dataset("csv", 4, rng(), path=str(p), test_fraction=0.25).n_features == 2


def test_csv_in_latin1_says_where_and_to_save_as_utf8(tmp_path):
    text = "x1,x2,label\n1,2,chat\n3,4,caf\xe9\n"
    msg = csv_error(tmp_path, text.encode("latin-1"), "latin.csv")
    offset = text.encode("latin-1").index(b"\xe9")
    assert ":3:" in msg and "0xe9" in msg and f"offset {offset}" in msg and "save the file as UTF-8" in msg, msg
    msg = csv_error(tmp_path, "x1,label\r1,a\r2,\xe9\r".encode("latin-1"), "mac.csv")
    assert ":3:" in msg, msg


@pytest.mark.parametrize("content", [b"", b"\n\n", b"\xef\xbb\xbf", b"  \r\n"])
def test_csv_empty_file(tmp_path, content):
    assert "is empty" in csv_error(tmp_path, content, "empty.csv")


def test_csv_directory_unreadable_and_too_big(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="is a directory") as info:
        make_dataset("csv", 10, rng(), path=str(tmp_path))
    assert str(tmp_path) in str(info.value)

    p = tmp_path / "locked.csv"
    p.write_text(GOOD)
    real_open = Path.open

    def denied(self, *args, **kwargs):
        if self.name == "locked.csv":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(DataError, match="Permission denied") as info:
        make_dataset("csv", 10, rng(), path=str(p))
    assert "locked.csv" in str(info.value) and "readable" in str(info.value)
    monkeypatch.undo()

    monkeypatch.setattr(data_module, "MAX_CSV_BYTES", 20)
    assert "limit" in csv_error(tmp_path, GOOD, "huge.csv") and "sample" in csv_error(tmp_path, GOOD, "huge.csv")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root reads any file")
def test_csv_without_read_permission(tmp_path):
    p = tmp_path / "private.csv"
    p.write_text(GOOD)
    p.chmod(0)
    with pytest.raises(DataError, match="private.csv"):
        make_dataset("csv", 10, rng(), path=str(p))


def test_csv_draw_with_one_class_names_n_samples(tmp_path):
    msg = csv_error(tmp_path, GOOD, n_samples=1)
    assert "data.n_samples" in msg and "'label'" in msg


def test_make_dataset_bad_name_too_few_rows_and_float32_overflow(tmp_path):
    with pytest.raises(DataError, match="'spiral' is not one of"):
        make_dataset("spiral", 10, rng())
    assert "no training rows" in csv_error(tmp_path, "x,label\n1,a\n2,b\n", n_samples=2, test_fraction=0.9)
    # a constant training column and one far-off test value: fine in float64, infinite in float32
    p = tmp_path / "far.csv"
    p.write_text("x,label\n" + "".join(f"0,{i % 2}\n" for i in range(9)) + "1e50,1\n")
    outcomes = set()
    for seed in range(20):
        assert np.all(np.isfinite(make_dataset("csv", 10, rng(seed), path=str(p), test_fraction=0.5).X_test))
        try:
            make_dataset("csv", 10, rng(seed), path=str(p), test_fraction=0.5, dtype=np.float32)
            outcomes.add("loaded")
        except DataError as exc:
            assert "far.csv" in str(exc) and "float32" in str(exc) and "feature 1 of 1" in str(exc)
            outcomes.add("refused")
    assert outcomes == {"loaded", "refused"}
