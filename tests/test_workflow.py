"""The GitHub Actions workflow: valid against the GitHub workflow schema (offline, the schema vendored by
check-jsonschema), and doing what the README and the CI contract say."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "ci.yml"


def validate(path: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("check_jsonschema")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True)


def test_the_workflow_passes_schema_validation():
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_invalid_key_fails_validation(tmp_path):
    data = yaml.safe_load(WORKFLOW.read_text())
    data["jobs"]["test"]["runs-onn"] = data["jobs"]["test"].pop("runs-on")
    bad = tmp_path / "ci.yml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    result = validate(bad)
    assert result.returncode != 0 and "runs-onn" in result.stdout + result.stderr


def test_the_workflow_tests_reproduces_compares_and_uploads():
    text = WORKFLOW.read_text()
    job = yaml.safe_load(text)["jobs"]["test"]
    runs = "\n".join(step.get("run", "") for step in job["steps"])
    assert "pip install -e '.[test]'" in runs and "python -m pytest -q" in runs
    assert "gradlab reproduce results/ci" in runs
    assert "--baseline results/reference" in runs and "GITHUB_STEP_SUMMARY" in runs
    assert len(job["strategy"]["matrix"]["python-version"]) >= 2
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert "${{ matrix.python-version }}" in upload["with"]["name"]  # unique per matrix entry
