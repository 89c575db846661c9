"""The README is a contract: its commands, its config reference, its registries and its table of shipped configs."""

import re
from pathlib import Path

import pytest
import typer
from pydantic import BaseModel

from gradlab.cli import app
from gradlab.config import ExperimentConfig, load_config
from gradlab.experiment import run_experiment
from gradlab.registry import REGISTRIES, describe
from gradlab.yamlio import read_yaml

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def field_paths(model=ExperimentConfig, prefix=""):
    for name, field in model.model_fields.items():
        ann = field.annotation
        nested = isinstance(ann, type) and issubclass(ann, BaseModel) and name not in ("activation", "init")
        yield from field_paths(ann, f"{prefix}{name}.") if nested else [f"{prefix}{name}"]


def section(title):
    return README.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def table_rows(text):
    return [[c.strip() for c in line.strip("|").split("|")] for line in text.splitlines()
            if line.startswith("| `")]


def test_config_reference_lists_exactly_the_fields():
    documented = [row[0].strip("`") for row in table_rows(section("Config reference"))]
    assert sorted(documented) == sorted(field_paths())


@pytest.mark.parametrize("registry", REGISTRIES)
def test_every_registry_entry_is_documented(registry):
    """In the README's Registries section, under its config field, and with a docstring for `gradlab list`."""
    field, entries = REGISTRIES[registry]
    documented = section("Registries")
    assert f"(`{field}`)" in documented, f"the {registry} ({field}) are missing from the README's Registries"
    for key, _, doc in describe(entries):
        assert f"`{key}`" in documented, f"{registry} entry {key!r} is missing from the README's Registries"
        assert doc, f"{registry} entry {key!r} has no docstring for gradlab list to show"


def test_the_commands_table_lists_every_command_and_every_registry():
    rows = [row[0] for row in table_rows(section("Commands"))]
    documented = {row.strip("`").split()[1] for row in rows if row.startswith("`gradlab ")}
    assert documented - {"--version"} == set(typer.main.get_command(app).commands)  # from the app itself
    (listed,) = re.findall(r"`gradlab list \[(.*?)\]`", section("Commands"))
    assert listed.split("\\|") == [*REGISTRIES, "configs"]  # and the shipped configs


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    test_command = commands[1]
    for step in ("pip install -e '.[test]'", "python -m pytest -q"):
        assert step in test_command and step in ci


SHIPPED = table_rows(section("Shipped configs"))


def test_every_shipped_config_is_in_the_table():
    listed = {row[0].strip("`") for row in SHIPPED}
    assert listed == {f"configs/{p.name}" for p in (ROOT / "configs").glob("*.yaml")}


@pytest.mark.parametrize("row", SHIPPED, ids=[row[0].strip("`") for row in SHIPPED])
def test_shipped_config_gives_its_documented_verdict(row):
    path, _, documented = row[0].strip("`"), row[1], row[2]
    if "sweep" in read_yaml(ROOT / path)[0]:
        pytest.skip("a sweep, not one run: tests/test_correlation.py checks its claim")
    summary = run_experiment(load_config(ROOT / path)).summary
    assert documented.split(",")[0].split()[0] == summary["verdict"], summary["message"]
    assert ("diverged" in documented) == (summary["status"] == "diverged"), summary["message"]
    if "after training" in documented:
        assert documented.split("then ")[1].split()[0] == summary["verdict_final"]


def test_python_api_example_runs_and_prints_what_it_says(tmp_path, monkeypatch):
    (code,) = re.findall(r"```python\n(.*?)```", README, re.S)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "configs").symlink_to(ROOT / "configs")
    printed = []
    monkeypatch.setattr("builtins.print", lambda *a, **k: printed.append(" ".join(map(str, a))))
    exec(compile(code, "README.md", "exec"), {})
    (claimed,) = re.findall(r'print\(result\.summary\["message"\]\)\s+# (.*)', code)
    assert printed[0] == claimed
    assert printed[1].startswith("Linear W (2, 64)")
    assert list((tmp_path / "results" / "sigmoid_deep").iterdir())


def test_every_image_the_readme_shows_is_in_the_repository():
    images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", README)
    assert "docs/report_run.png" in images and "docs/report_compare.png" in images
    assert [i for i in images if not (ROOT / i).is_file()] == []
