"""Seeded toy datasets, kept in the ``DATASETS`` registry; nothing is downloaded.

Each generator is ``fn(n_samples, rng, **options) -> (X, y)`` with ``X`` of shape
``(n_samples, n_features)`` and integer labels ``y`` of shape ``(n_samples,)``. The options a
generator accepts (``noise``, ``n_classes``, ``features``, ...) are exactly its keyword parameters, which
is how the config knows what each dataset allows: a file or a fixed set (csv, digits) takes no noise.
``make_dataset`` splits and standardizes.
"""

from __future__ import annotations

import csv as _csv
import difflib
import inspect
import math
import stat
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError  # the user's to fix: exit code 2, no traceback


def spirals(n_samples, rng, noise: float = 0.1, n_classes: int = 3):
    """Interleaved spiral arms, one per class (the CS231n toy problem). 2 features."""
    y = np.arange(n_samples) % n_classes
    t = rng.uniform(0.0, 1.0, n_samples)
    angle = 4.0 * t + 2.0 * math.pi * y / n_classes + rng.normal(0.0, noise, n_samples)
    X = np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1)
    return X, y


def moons(n_samples, rng, noise: float = 0.1):
    """Two interleaving half circles (as in scikit-learn's make_moons). 2 features, 2 classes."""
    y = np.arange(n_samples) % 2
    t = rng.uniform(0.0, math.pi, n_samples)
    X = np.where(y[:, None] == 0,
                 np.stack([np.cos(t), np.sin(t)], 1),
                 np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1))
    return X + rng.normal(0.0, noise, X.shape), y


def circles(n_samples, rng, noise: float = 0.1, factor: float = 0.5):
    """A small circle inside a large one (radius ratio ``factor``). 2 features, 2 classes."""
    y = np.arange(n_samples) % 2
    t = rng.uniform(0.0, 2.0 * math.pi, n_samples)
    r = np.where(y == 0, 1.0, factor)
    X = np.stack([r * np.cos(t), r * np.sin(t)], 1)
    return X + rng.normal(0.0, noise, X.shape), y


def blobs(n_samples, rng, noise: float = 0.1, n_classes: int = 3, features: int = 2):
    """Gaussian clusters with centres ~ U(-3, 3)^features and standard deviation ``1 + 4*noise``."""
    y = np.arange(n_samples) % n_classes
    centres = rng.uniform(-3.0, 3.0, (n_classes, features))
    return centres[y] + rng.normal(0.0, 1.0 + 4.0 * noise, (n_samples, features)), y


def xor(n_samples, rng, noise: float = 0.1):
    """Points in [-1, 1]^2 labelled by the sign of x1*x2: not linearly separable. 2 features, 2 classes."""
    X = rng.uniform(-1.0, 1.0, (n_samples, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    return X + rng.normal(0.0, noise, X.shape), y


def teacher(n_samples, rng, noise: float = 0.1, n_classes: int = 2, features: int = 10, hidden: int = 32):
    """Labels from a random one-hidden-layer tanh teacher on Gaussian inputs, with logit noise ``noise``."""
    X = rng.normal(size=(n_samples, features))
    W1 = rng.normal(0.0, 1.0 / math.sqrt(features), (features, hidden))
    W2 = rng.normal(0.0, 1.0 / math.sqrt(hidden), (hidden, n_classes))
    logits = np.tanh(X @ W1) @ W2 + rng.normal(0.0, noise, (n_samples, n_classes))
    return X, logits.argmax(axis=1)


# Refuse before parsing: every feature cell becomes an 8-byte float, so a file this big needs several
# times its size in memory. Past it, the user should sample the rows first.
MAX_CSV_BYTES = 2 * 1024 ** 3
# Standardization squares deviations: with |x| <= 1e100 every square is below 4e200, and a sum of them over
# the ~1e9 rows a file under MAX_CSV_BYTES can hold stays far below float64's 1.8e308. Nothing measured
# comes near 1e100, so a larger value is a unit or export error; rejecting it names the cell.
MAX_ABS_FEATURE = 1e100


def csv(n_samples, rng, path: str = "", label_column: str = "label"):
    """A user's CSV file (UTF-8, a header row): numeric feature columns and an integer or string label column.
    Uses the first ``n_samples`` rows after a seeded shuffle (all rows if fewer). Anything wrong with the
    file is a DataError naming the file and, where it applies, the line (as an editor numbers lines)
    and the column."""
    X, y, classes = _read_csv(path, label_column)
    if len(classes) < 2:
        raise DataError(f"{path}: column {label_column!r} holds one class, {classes[0]!r}; a classifier needs "
                        f"at least two, so add rows of another class")
    order = rng.permutation(len(y))[:n_samples]
    if len(np.unique(y[order])) < 2:
        raise DataError(f"{path}: the {len(order)} rows drawn (data.n_samples) all have {label_column!r} = "
                        f"{classes[y[order[0]]]!r}; raise data.n_samples so that two classes appear")
    return X[order], y[order]


def _read_csv(path, label_column):
    """Features ``(n_rows, n_features)``, label codes ``(n_rows,)`` in sorted class order, and the classes."""
    if not path:
        raise DataError(f"data.path: CSV file {path!r} not found; set data.path to a CSV file with a header row")
    p = Path(path)
    try:
        st = p.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise DataError(f"data.path: CSV file {path} not found; set data.path to a CSV file with a header row") \
            from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise DataError(f"data.path: cannot read {path} ({_reason(exc)}); check the path") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise DataError(f"data.path: {path} is {kind}; set data.path to a CSV file")
    if st.st_size > MAX_CSV_BYTES:
        raise DataError(f"data.path: {path} is {st.st_size / 2 ** 30:.1f} GiB, over the "
                        f"{MAX_CSV_BYTES / 2 ** 30:g} GiB limit for CSV data; use a random sample of its rows")
    try:
        # utf-8-sig: Excel's "CSV UTF-8" starts with a byte-order mark that would otherwise stick to the
        # first column's name. newline="" lets the csv module see quoted line breaks (its documented use).
        with p.open(encoding="utf-8-sig", newline="") as fh:
            try:
                return _parse(_records(_csv.reader(fh, strict=True), path), path, label_column)
            except UnicodeDecodeError:
                raise _not_utf8(p, path) from None
    except OSError as exc:
        raise DataError(f"data.path: cannot read {path} ({_reason(exc)}); check that it is a readable file") \
            from None
    except MemoryError:
        raise DataError(f"data.path: not enough memory to load {path}; use a random sample of its rows") from None


def _records(reader, path):
    """``(line, cells)`` for each record that has any content; ``line`` is where the record starts."""
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except _csv.Error as exc:  # strict mode: an unclosed quote, or text after a closing quote
            raise DataError(f"{path}:{line}: malformed CSV ({exc}); check the quotes from that line on") from None
        if any(c.strip() for c in cells):  # skip blank lines and the bare-comma rows Excel writes
            yield line, cells


def _parse(records, path, label_column):
    """Check the header, then read the rows, stopping at the first problem (the one nearest the top)."""
    first = next(records, None)
    if first is None:
        raise DataError(f"data.path: {path} is empty; it needs a header row and rows of data")
    head, names = first[0], [c.strip() for c in first[1]]
    for j, name in enumerate(names):
        if not name:
            raise DataError(f"{path}:{head}: column {j + 1} has no name; give every column a name in the header")
        if name in names[:j]:
            raise DataError(f"{path}:{head} column {name!r}: duplicate name (columns {names.index(name) + 1} and "
                            f"{j + 1}); rename one of them")
    if label_column not in names:
        near = difflib.get_close_matches(label_column, names, 1)
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        if len(names) == 1 and any(sep in names[0] for sep in ";\t|"):
            hint = "; the header has one column, so the file may not be comma-separated"
        raise DataError(f"{path}:{head}: data.label_column {label_column!r} is not a column (columns: "
                        f"{_listing(names)}){hint}; set data.label_column to the label column")
    if len(names) == 1:
        raise DataError(f"{path}:{head}: only the label column {label_column!r}, no feature columns; add at "
                        f"least one numeric feature column")

    k = names.index(label_column)
    features = [j for j in range(len(names)) if j != k]
    # Flat typed buffers rather than lists of Python objects: 8 bytes a cell instead of ~30
    values, lines, codes, seen = array("d"), array("q"), array("q"), {}
    for line, cells in records:
        if len(cells) != len(names):
            problem = (f"no value for column {names[len(cells)]!r}" if len(cells) < len(names)
                       else f"extra value {_show(cells[len(names)])} after the last column {names[-1]!r}")
            raise DataError(f"{path}:{line}: {len(cells)} values for {len(names)} columns, {problem}; give the "
                            f"row one value per header column")
        try:
            values.extend([float(cells[j]) for j in features])
        except ValueError:
            raise _bad_cell(path, line, cells, names, features) from None
        label = cells[k].strip()
        if not label:
            raise DataError(f"{path}:{line} column {label_column!r}: empty label; fill it in or delete the row")
        codes.append(seen.setdefault(label, len(seen)))
        lines.append(line)
    if not lines:
        raise DataError(f"{path}: no data rows, only the header on line {head}; add rows below it")

    X = np.frombuffer(values).reshape(len(lines), len(features))
    bad = ~(np.abs(X) <= MAX_ABS_FEATURE)  # NaN fails every comparison, so it lands here with inf
    if bad.any():
        i, j = np.argwhere(bad)[0]
        kind = "not finite" if not np.isfinite(X[i, j]) else f"too large (over {MAX_ABS_FEATURE:g} in size)"
        raise DataError(f"{path}:{lines[i]} column {names[features[j]]!r}: value {float(X[i, j])!r} is {kind}; "
                        f"feature values must be finite numbers in sensible units, so fix or delete the row")
    classes = sorted(seen)  # the order np.unique gave before, so labels map to the same integers
    rank = np.empty(len(classes), np.intp)
    rank[[seen[c] for c in classes]] = np.arange(len(classes))
    return X, rank[np.frombuffer(codes, np.int64)], classes


def _bad_cell(path, line, cells, names, features) -> DataError:
    """The first feature cell on a row that float() refused."""
    for j in features:
        text = cells[j].strip()
        if not text:
            return DataError(f"{path}:{line} column {names[j]!r}: missing value; fill it in or delete the row")
        try:
            float(text)
        except ValueError:
            return DataError(f"{path}:{line} column {names[j]!r}: non-numeric value {_show(cells[j])}; feature "
                             f"columns hold numbers (set data.label_column if this is the label)")
    return DataError(f"{path}:{line}: a feature value is not a number; fix the row")  # float() strips as str does


def _not_utf8(p: Path, path) -> DataError:
    """Locate the first byte that is not UTF-8. Decoding line by line is exact: a line-break byte never
    occurs inside a UTF-8 sequence. Lines are counted as the csv reader counts them (\\n, \\r\\n or \\r)."""
    line, offset = 1, 0
    with p.open("rb") as fh:
        for raw in fh:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                line += raw.count(b"\r", 0, exc.start)
                return DataError(f"{path}:{line}: byte 0x{raw[exc.start]:02x} at offset {offset + exc.start} is "
                                 f"not UTF-8; save the file as UTF-8 (Excel: Save As 'CSV UTF-8')")
            line += raw.count(b"\r") - raw.endswith(b"\r\n") + raw.endswith(b"\n")
            offset += len(raw)
    return DataError(f"{path}: not UTF-8 text; save the file as UTF-8")  # the file changed under us


def _show(text: str) -> str:
    """A cell for a one-line message: quoted (so line breaks show as \\n) and cut short."""
    return repr(text if len(text) <= 40 else text[:40] + "...")


def _listing(names: list[str]) -> str:
    return ", ".join(names[:20]) + (f", ... ({len(names)} in all)" if len(names) > 20 else "")


def _reason(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def digits(n_samples, rng):
    """The 8x8 handwritten digits bundled with scikit-learn (1797 images, 64 features, 10 classes).
    Needs the optional extra: pip install 'gradlab[datasets]'."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("dataset 'digits' needs scikit-learn: pip install 'gradlab[datasets]'") from None
    d = load_digits()
    order = rng.permutation(len(d.target))[:n_samples]
    return d.data[order].astype(float), d.target[order]


DATASETS = {
    "spirals": spirals,
    "moons": moons,
    "circles": circles,
    "blobs": blobs,
    "xor": xor,
    "teacher": teacher,
    "csv": csv,
    "digits": digits,
}


@dataclass
class Dataset:
    """Standardized train/test arrays. ``X_*`` have shape ``(n, n_features)``, ``y_*`` shape ``(n,)``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def n_features(self) -> int:
        return self.X_train.shape[1]


def make_dataset(name: str, n_samples: int, rng: np.random.Generator, noise: float = 0.1,
                 test_fraction: float = 0.2, dtype=np.float64, **options) -> Dataset:
    """Generate, shuffle, split and standardize (with the training split's mean and std)."""
    if name not in DATASETS:
        raise DataError(f"dataset {name!r} is not one of {', '.join(DATASETS)}")
    generate = DATASETS[name]
    if "noise" in inspect.signature(generate).parameters:
        options = {"noise": noise, **options}
    X, y = generate(n_samples, rng, **options)
    source = options.get("path") or f"dataset {name!r}"
    order = rng.permutation(len(y))
    X, y = X[order], y[order]
    n_test = int(round(test_fraction * len(y)))
    if n_test >= len(y):
        raise DataError(f"{source}: {len(y)} samples leave no training rows at test_fraction {test_fraction}; "
                        f"add rows or lower data.test_fraction")
    n_classes = int(max(y.max() + 1, options.get("n_classes", 2)))
    X_train, y_train, X_test, y_test = X[n_test:], y[n_test:], X[:n_test], y[:n_test]
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1.0  # constant columns (digits' blank corners) stay 0 instead of NaN
    norm = lambda a: ((a - mean) / std).astype(dtype)  # noqa: E731
    with np.errstate(over="ignore"):  # checked just below, with a message that says which feature
        X_train, X_test = norm(X_train), norm(X_test)
    # Training values standardize to at most sqrt(n) in size, but a test value far outside a narrow training
    # spread can exceed float32's range (3.4e38); a run on infinite inputs would only report a false divergence.
    for part in (X_train, X_test):
        bad = ~np.isfinite(part).all(axis=0)
        if bad.any():
            raise DataError(f"{source}: feature {np.flatnonzero(bad)[0] + 1} of {X.shape[1]} does not "
                            f"standardize to finite {np.dtype(dtype).name} values (a test value lies far outside "
                            f"the training spread); rescale that feature or use dtype float64")
    return Dataset(X_train, y_train.astype(np.intp), X_test, y_test.astype(np.intp), n_classes)
