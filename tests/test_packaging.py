"""The package without a clone: a wheel that carries the shipped configs and the license, installed into a fresh
venv and run from a folder that is not the repository; shipped configs found by name; `gradlab list configs`;
`gradlab reproduce` that leaves the committed reference alone; and dependency floors that match pyproject.toml."""

from __future__ import annotations

import os
import re
import shutil
import site as site_module
import subprocess
import sys
import sysconfig
import venv
import zipfile
from importlib import metadata, resources
from pathlib import Path

import pytest
from conftest import cli

from gradlab import __version__, load_config, shipped
from gradlab.errors import ConfigError, UsageError
from gradlab.reference import REFERENCE, REPRODUCED, output_for

invoke = cli(columns=200)
ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted(p.stem for p in (ROOT / "configs").glob("*.yaml"))
PYPROJECT = (ROOT / "pyproject.toml").read_text()


# ---------------------------------------------------------------- the wheel

def _has_build_backend() -> bool:
    """setuptools 77 or later here (the test extra installs it): the wheel is built without fetching one."""
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= 77
    except metadata.PackageNotFoundError:
        return False


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of what a wheel is made of, so that the build leaves the tree as it was."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("gradlab", "configs"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    isolation = ["--no-build-isolation"] if _has_build_backend() else []
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(out),
                            *isolation], capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("gradlab-*.whl")
    return found


def test_the_wheel_carries_every_module_the_configs_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "gradlab").rglob("*.py")}
    assert modules - names == set(), "a package under gradlab/ is missing from [tool.setuptools] packages"
    assert {f"gradlab/configs/{name}.yaml" for name in CONFIGS} <= names
    info = f"gradlab-{__version__}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    meta = zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode()
    assert f"\nVersion: {__version__}\n" in meta  # single-sourced from gradlab.__version__
    assert "\nLicense-Expression: MIT\n" in meta and "\nLicense-File: LICENSE\n" in meta


def test_the_license_is_mit_for_the_gradlab_authors():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License") and "Copyright (c) the gradlab authors" in text


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A fresh venv holding the wheel, its dependencies taken from this environment (a .pth file points at our
    site-packages, searched after the venv's own, so the wheel's gradlab is the one imported)."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False)
    python = env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                           str(wheel)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = [*site_module.getsitepackages(), site_module.getusersitepackages(),
            *(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))]
    (Path(site) / "zz_dependencies.pth").write_text("".join(f"{p}\n" for p in dict.fromkeys(ours) if Path(p).is_dir()))
    return env


def _in(env: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    """A command of the venv, run in ``cwd`` with nothing of the repository on the path."""
    bin_dir = env / ("Scripts" if os.name == "nt" else "bin")
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    clean.update(NO_COLOR="1", COLUMNS="200", TERM="dumb", PATH=f"{bin_dir}{os.pathsep}{clean.get('PATH', '')}")
    return subprocess.run([str(bin_dir / args[0]), *args[1:]], cwd=cwd, env=clean, capture_output=True, text=True)


def test_the_installed_wheel_runs_the_main_job_outside_a_clone(installed, tmp_path):
    where = _in(installed, tmp_path, "python", "-c",
                "import gradlab, importlib.resources as r; print(gradlab.__file__); print(r.files('gradlab.configs'))")
    assert where.returncode == 0, where.stderr
    package, configs = where.stdout.split()
    assert Path(package).is_relative_to(installed) and Path(configs).is_relative_to(installed)

    run = _in(installed, tmp_path, "gradlab", "run", "sigmoid_deep", "-o", "out", "--set", "train.steps=2")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "vanishing" in run.stdout
    (run_dir,) = (tmp_path / "out" / "sigmoid_deep").iterdir()
    assert (run_dir / "plots" / "grad_profile.png").is_file()

    listed = _in(installed, tmp_path, "gradlab", "list", "configs")
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert all(name in listed.stdout for name in CONFIGS) and "Vanishing gradients" in listed.stdout


# ---------------------------------------------------------------- shipped configs by name

def test_the_shipped_configs_are_the_repositorys_configs_folder():
    assert shipped.folder().resolve() == (ROOT / "configs").resolve()
    assert shipped.names() == CONFIGS


def test_an_editable_install_reads_the_configs_from_the_clone():
    try:
        files = resources.files("gradlab.configs")
    except ModuleNotFoundError:
        pytest.skip("gradlab.configs is not installed here: a source tree on the path, or an editable install "
                    "made before the configs were package data (pip install -e . again)")
    if not Path(shipped.__file__).resolve().is_relative_to(ROOT):
        pytest.skip("gradlab is not installed from this clone")
    assert Path(files).resolve() == (ROOT / "configs").resolve()


@pytest.mark.parametrize("typed", ["sigmoid_deep", "sigmoid_deep.yaml", "configs/sigmoid_deep.yaml"])
def test_a_shipped_config_is_found_by_name_where_no_such_file_exists(typed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(typed).name == "sigmoid_deep"
    assert shipped.resolve(typed) == shipped.folder() / "sigmoid_deep.yaml"


@pytest.mark.parametrize("typed", ["sigmoid_deep.yaml", "configs/sigmoid_deep.yaml"])
def test_a_real_file_wins_over_a_shipped_name(typed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / typed).parent.mkdir(exist_ok=True)
    (tmp_path / typed).write_text("name: mine\nmodel: {depth: 2}\n")
    assert load_config(typed).name == "mine"


def test_a_name_in_another_folder_is_a_path_not_a_shipped_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="no such file"):
        load_config("elsewhere/sigmoid_deep.yaml")


def test_an_unknown_name_says_no_such_file_and_lists_the_shipped_ones(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "sigmoid_dep")
    assert result.exit_code == 2, result.output
    assert "sigmoid_dep: no such file" in result.output and "did you mean 'sigmoid_deep'?" in result.output
    assert all(name in result.output for name in CONFIGS)
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [["theory", "tanh_xavier"], ["sweep", "tanh_xavier", "--depth", "2,3", "--dry-run"]])
def test_theory_and_sweep_take_a_shipped_name_too(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke(*args)
    assert result.exit_code == 0, result.output


def test_list_configs_gives_each_shipped_config_and_its_phenomenon():
    result = invoke("list", "configs")
    assert result.exit_code == 0, result.output
    rows = {name: (net, doc) for name, net, doc in shipped.describe()}
    assert list(rows) == CONFIGS
    assert rows["sigmoid_deep"] == ("depth=30, activation=sigmoid, init=xavier_normal",
                                    "Vanishing gradients: a deep sigmoid net with Xavier init.")
    assert "batchnorm" in rows["sigmoid_batchnorm"][0] and "residual" in rows["relu_residual"][0]
    assert all(doc.endswith(".") and len(doc) > 20 for _, doc in rows.values())
    for name, (_, doc) in rows.items():
        assert name in result.output and doc.split()[0] in result.output


def test_a_typo_of_configs_is_caught_like_any_registry_name():
    result = invoke("list", "confgs")
    assert result.exit_code == 2 and "did you mean 'configs'?" in result.output


def test_the_phenomenon_is_the_first_sentence_of_the_leading_comment():
    text = ("# yaml-language-server: $schema=../schema/x.json\n# Vanishing gradients: deep\n# sigmoid. sigmoid'(z) "
            "<= 1/4, so it shrinks.\nname: x\n# a later comment\n")
    assert shipped.phenomenon(text) == "Vanishing gradients: deep sigmoid."
    assert shipped.phenomenon("name: x\n") == ""


# ---------------------------------------------------------------- reproduce and the committed reference

def test_reproduce_writes_beside_the_reference_unless_told_to_update_it():
    assert output_for(None, False) == REPRODUCED == Path("results/reproduced")
    assert output_for(None, True) == REFERENCE == Path("results/reference")
    assert output_for(Path("results/ci"), False) == Path("results/ci")
    assert output_for(Path("results/reference"), True) == REFERENCE
    with pytest.raises(UsageError, match="--update-reference"):
        output_for(Path("results/reference"), False)
    with pytest.raises(UsageError, match="leave out OUTPUT"):
        output_for(Path("results/ci"), True)


TINY = "name: {name}\nmodel: {{depth: 4, width: 8, activation: tanh}}\ndata: {{n_samples: 64}}\ntrain: {{steps: 2}}\n"


def test_a_plain_reproduce_leaves_the_reference_alone(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "tiny.yaml").write_text(TINY.format(name="tiny"))
    reference = tmp_path / "results" / "reference" / "runs" / "tiny"
    reference.mkdir(parents=True)
    (reference / "committed").write_text("keep")

    result = invoke("reproduce", "--configs", "mine", "--no-sweep")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results" / "reproduced" / "runs" / "tiny" / "summary.json").is_file()
    assert [p.name for p in reference.iterdir()] == ["committed"]

    refused = invoke("reproduce", "results/reference", "--configs", "mine", "--no-sweep")
    assert refused.exit_code == 2 and "--update-reference" in refused.output
    assert [p.name for p in reference.iterdir()] == ["committed"]

    updated = invoke("reproduce", "--update-reference", "--configs", "mine", "--no-sweep")
    assert updated.exit_code == 0, updated.output
    assert (reference / "summary.json").is_file() and not (reference / "committed").exists()


# ---------------------------------------------------------------- dependency floors

def _lower_bounds() -> dict[str, str]:
    """{name: its lower bound} for each dependency in pyproject.toml; every one must have a >= bound."""
    (block,) = re.findall(r"^dependencies = \[(.*?)\]", PYPROJECT, re.S | re.M)
    bounds = {}
    for requirement in re.findall(r'"([^"]+)"', block):
        found = re.match(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", requirement)
        assert found, f"{requirement}: give a tested lower bound (>=) for constraints/floors.txt to pin"
        bounds[found[1].lower()] = found[2]
    return bounds


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_the_floors_pin_exactly_the_lower_bounds_of_pyproject():
    floors = (ROOT / "constraints" / "floors.txt").read_text()
    pins = {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==([0-9.]+)", floors, re.M)}
    bounds = _lower_bounds()
    assert set(pins) == set(bounds)
    assert {n: _release(v) for n, v in pins.items()} == {n: _release(v) for n, v in bounds.items()}


def test_ci_installs_the_floors_and_tests_against_them():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "-c constraints/floors.txt" in ci and "tests/test_cli.py" in ci
