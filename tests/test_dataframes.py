"""The CSVs a user opens in a dataframe: pandas and polars read every column of a run's and a sweep's tables
with the same type, numbers as numbers (a missing one is ``NaN``), text as text; a paired axis has a column per
field; and gradlab still reads the tables it wrote before (missing numbers blank, no field columns)."""

import csv
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import cli

from gradlab.results import load_run
from gradlab.sweep import PROFILE_COLUMNS, SUMMARY_COLUMNS, TEXT_COLUMNS, load_sweep, write_tables

pd = pytest.importorskip("pandas")
pl = pytest.importorskip("polars")

invoke = cli()
# pandas 3 parses floats exactly by default (and deprecates the option); older versions round unless asked
EXACT = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}
PAIR = "model.activation+model.init"
FIELDS = ("model.activation", "model.init")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run")
    result = invoke("run", Path(__file__).parent.parent / "configs" / "relu_he.yaml", "-o", out, "--no-plots")
    assert result.exit_code == 0, result.output
    (run,) = (out / "relu_he").iterdir()
    return run


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep")
    result = invoke("sweep", "--grid", f"{PAIR}=sigmoid+xavier_normal,relu+he_normal", "--depth", "2,3",
                    "--set", "train.steps=3", "--workers", "1", "--no-plots", "-o", out)
    assert result.exit_code == 0, result.output
    return out / "sweeps" / "default"


def pandas_kind(series) -> str:
    types = pd.api.types
    for kind, test in (("bool", types.is_bool_dtype), ("int", types.is_integer_dtype),
                       ("float", types.is_float_dtype), ("text", types.is_string_dtype)):
        if test(series.dtype):
            return kind
    return str(series.dtype)


def polars_kind(dtype) -> str:
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_integer():
        return "int"
    if dtype.is_float():
        return "float"
    return "text" if dtype == pl.String else str(dtype)


def kinds(path: Path) -> dict[str, tuple[str, str]]:
    """``{column: (pandas kind, polars kind)}`` as each library reads the file with its defaults; columns
    empty in every row are ``empty`` in both (pandas makes them float NaN, polars text nulls)."""
    a, b = pd.read_csv(path, **EXACT), pl.read_csv(path)
    assert list(a.columns) == b.columns
    out = {}
    for name in a.columns:
        if a[name].isna().all() and b[name].is_null().all():
            out[name] = ("empty", "empty")
        else:
            out[name] = (pandas_kind(a[name]), polars_kind(b.schema[name]))
    return out


def check_types(path: Path, text_columns: set[str]) -> dict[str, str]:
    """Both libraries agree on every column's type: numbers where gradlab writes numbers, text where it
    writes text; a column that is blank in every row can only be a text column (a missing number is NaN)."""
    found = kinds(path)
    assert {name: pair for name, pair in found.items() if pair[0] != pair[1]} == {}, path.name
    for name, (kind, _) in found.items():
        allowed = {"text", "empty"} if name in text_columns else {"int", "float"}
        assert kind in allowed, f"{path.name}: {name} is read as {kind}"
    a, b = pd.read_csv(path, **EXACT), pl.read_csv(path)
    for name, (kind, _) in found.items():  # the same numbers, NaN in the same places
        if kind in ("int", "float"):
            np.testing.assert_array_equal(a[name].to_numpy(float), b[name].to_numpy().astype(float), err_msg=name)
    return {name: kind for name, (kind, _) in found.items()}


def test_the_run_csvs_read_the_same_in_pandas_and_polars(run_dir):
    for name in ("steps.csv", "layers.csv"):
        found = check_types(run_dir / name, text_columns=set())
        assert "empty" not in found.values()
        assert {c for c, k in found.items() if k == "int"} >= {"step"}
    assert "NaN" in (run_dir / "steps.csv").read_text()  # the steps between test evaluations: missing, typed


def test_the_sweep_tables_read_the_same_in_pandas_and_polars(sweep_dir):
    text = {*TEXT_COLUMNS, PAIR, *FIELDS}
    summary = check_types(sweep_dir / "summary.csv", text)
    assert summary["model.depth"] == "int" and summary[PAIR] == "text"
    # nothing diverged: the step is NaN throughout, a float column (it was blank, which polars read as text)
    assert summary["diverged_step"] == "float"
    assert pl.read_csv(sweep_dir / "summary.csv")["diverged_step"].is_nan().all()
    assert summary["error"] == "empty"  # nothing failed: an empty text column, the one type-less case
    profiles = check_types(sweep_dir / "profiles.csv", text)
    assert profiles["layer"] == "int" and "empty" not in profiles.values()


def test_a_paired_axis_has_a_column_per_field(sweep_dir):
    for name in ("summary.csv", "profiles.csv"):
        table = pl.read_csv(sweep_dir / name)
        assert table.columns[:4] == ["model.depth", PAIR, *FIELDS]  # the pair, then its fields, then the rest
        for row in table.iter_rows(named=True):
            assert row[PAIR] == f"{row['model.activation']}+{row['model.init']}"
        assert set(table["model.activation"]) == {"sigmoid", "relu"} and set(table["model.init"]) == {
            "xavier_normal", "he_normal"}
    # a dataframe groups on one field without splitting the pair's labels
    by_activation = pd.read_csv(sweep_dir / "summary.csv").groupby("model.activation")["final_loss"].count()
    assert by_activation.to_dict() == {"relu": 2, "sigmoid": 2}


def test_the_field_columns_are_not_read_back_as_axes(sweep_dir):
    summary = load_sweep(sweep_dir)
    assert summary.axis_names == ["model.depth", PAIR]
    assert all(not set(FIELDS) & set(r) for r in [*summary.rows, *summary.profiles])


def tables_only(sweep_dir: Path, to: Path) -> Path:
    """The sweep as a committed reference keeps it: the spec and the tables, no run directories."""
    to.mkdir()
    for name in ("sweep.yaml", "summary.csv", "profiles.csv"):
        shutil.copy(sweep_dir / name, to / name)
    return to


def same(a: list[dict], b: list[dict]) -> bool:
    def plain(rows):
        return [{k: "NaN" if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()} for r in rows]
    return plain(a) == plain(b)


def old_format(path: Path) -> None:
    """Rewrite a table as gradlab wrote it before: missing numbers blank, no per-field columns."""
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    columns = [c for c in rows[0] if c not in FIELDS]
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows([{k: "" if v == "NaN" else v for k, v in r.items()} for r in rows])


def test_tables_of_either_format_load_to_the_same_rows(sweep_dir, tmp_path):
    fresh = load_sweep(sweep_dir)  # from the run directories
    new = load_sweep(tables_only(sweep_dir, tmp_path / "new"))
    old = tables_only(sweep_dir, tmp_path / "old")
    for name in ("summary.csv", "profiles.csv"):
        old_format(old / name)
    assert ",," in (old / "summary.csv").read_text() and "NaN" not in (old / "summary.csv").read_text()
    old = load_sweep(old)
    for summary in (new, old):
        assert same(summary.rows, fresh.rows) and same(summary.profiles, fresh.profiles)


def test_a_run_of_either_format_loads_the_same(run_dir, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(run_dir, old)
    for name in ("steps.csv", "layers.csv"):
        (old / name).write_text((old / name).read_text().replace("NaN", ""))
    a, b = load_run(run_dir), load_run(old)
    for name, column in a.steps.items():
        np.testing.assert_array_equal(b.steps[name], column)
    for name, column in a.layers.items():
        np.testing.assert_array_equal(b.layers[name], column)


def test_a_diverged_step_beside_missing_ones_is_a_float_and_empty_text_is_blank(sweep_dir, tmp_path):
    """An integer column with missing values is a float column in both libraries (pandas has no other choice);
    a failed run's error is text, and the verdicts it lacks are blank, never NaN."""
    summary = load_sweep(tables_only(sweep_dir, tmp_path / "edited"))
    summary.rows[0].update(status="diverged", diverged_step=2)
    summary.rows[1].update({**{c: math.nan for c in SUMMARY_COLUMNS[1:]}, "status": "failed",
                            "error": "FloatingPointError: simulated", "verdict_final": math.nan})
    write_tables(summary)
    found = check_types(summary.folder / "summary.csv", {*TEXT_COLUMNS, PAIR, *FIELDS})
    assert found["diverged_step"] == "float" and found["error"] == found["verdict_final"] == "text"
    table = pl.read_csv(summary.folder / "summary.csv")
    assert table["diverged_step"][0] == 2.0 and table["verdict_final"][1] is None
    again = load_sweep(summary.folder)
    assert again.rows[0]["diverged_step"] == 2 and isinstance(again.rows[0]["diverged_step"], int)
    assert again.rows[1]["verdict_final"] == "" and math.isnan(again.rows[1]["diverged_step"])
    assert [c for c in PROFILE_COLUMNS if c not in pl.read_csv(summary.folder / "profiles.csv").columns] == []
