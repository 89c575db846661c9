"""The GitHub Actions workflow: valid against the GitHub workflow schema (offline, the schema vendored by
check-jsonschema), clean under zizmor's offline audits, and doing what the README and the CI contract say."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

WORKFLOW = Path(__file__).resolve().parent.parent / ".github" / "workflows" / "ci.yml"

# The major version each action must be at.
ACTION_MAJORS = {"actions/checkout": 6, "actions/setup-python": 6, "actions/upload-artifact": 7}


def load(text: str | None = None) -> dict:
    """The workflow as data. PyYAML reads the key `on` as the boolean True: it is put back as "on"."""
    data = yaml.safe_load(WORKFLOW.read_text() if text is None else text)
    if True in data:
        data["on"] = data.pop(True)
    return data


def dump(data: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def job() -> dict:
    return load()["jobs"]["test"]


def steps() -> list[dict]:
    return job()["steps"]


def expand_env(text: str) -> str:
    """`${{ env.NAME }}` and `$NAME` replaced by the job's env value (the values may hold matrix expressions)."""
    for name, value in job().get("env", {}).items():
        text = re.sub(r"\$\{\{\s*env\." + re.escape(name) + r"\s*\}\}", value, text)
        text = re.sub(r"\$\{?" + re.escape(name) + r"\b\}?", value, text)
    return text


def uploads() -> list[dict]:
    return [s for s in steps() if s.get("uses", "").startswith("actions/upload-artifact@")]


def html_upload() -> dict:
    [step] = [s for s in uploads() if s.get("with", {}).get("archive") is False]
    return step


def zip_upload() -> dict:
    [step] = [s for s in uploads() if s.get("with", {}).get("archive", True) is not False]
    return step


def compare_command() -> str:
    [run] = [s["run"] for s in steps() if "gradlab compare" in s.get("run", "")]
    return " ".join(run.split())


def validate(path: Path) -> subprocess.CompletedProcess:
    pytest.importorskip("check_jsonschema")
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows",
                           str(path)], capture_output=True, text=True)


def zizmor_executable() -> str:
    beside = Path(sys.executable).parent / ("zizmor.exe" if sys.platform == "win32" else "zizmor")
    found = str(beside) if beside.is_file() else shutil.which("zizmor")
    if found is None:
        pytest.skip("the zizmor executable is not installed (pip install -e '.[test]')")
    return found


def zizmor_findings(path: Path) -> list[str]:
    """zizmor's findings on one workflow file, offline (no network, no token): their audit names."""
    result = subprocess.run([zizmor_executable(), "--offline", "--format", "json", str(path)],
                            capture_output=True, text=True)
    assert result.returncode in (0, *range(10, 15)), result.stdout + result.stderr  # 1, 2: zizmor itself failed
    return [finding["ident"] for finding in json.loads(result.stdout)]


def test_the_workflow_passes_schema_validation():
    result = validate(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_invalid_key_fails_validation(tmp_path):
    data = load()
    data["jobs"]["test"]["runs-onn"] = data["jobs"]["test"].pop("runs-on")
    result = validate(dump(data, tmp_path / "ci.yml"))
    assert result.returncode != 0 and "runs-onn" in result.stdout + result.stderr


def test_zizmor_finds_nothing():
    assert zizmor_findings(WORKFLOW) == []


def _without_persist_credentials(data: dict) -> None:
    checkout = next(s for s in data["jobs"]["test"]["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    checkout.get("with", {}).pop("persist-credentials", None)
    if not checkout.get("with"):
        checkout.pop("with", None)


def _checkout_by_tag(data: dict) -> None:
    checkout = next(s for s in data["jobs"]["test"]["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    checkout["uses"] = "actions/checkout@v6"


@pytest.mark.parametrize("spoil, audit", [(_without_persist_credentials, "artipacked"),
                                          (_checkout_by_tag, "unpinned-uses")])
def test_zizmor_flags_a_spoiled_workflow(tmp_path, spoil, audit):
    data = load()
    dump(data, tmp_path / "clean.yml")
    assert zizmor_findings(tmp_path / "clean.yml") == []  # the YAML round trip alone changes nothing
    spoil(data)
    assert audit in zizmor_findings(dump(data, tmp_path / "ci.yml"))


def test_the_actions_are_checkout_v6_setup_python_v6_upload_artifact_v7():
    uses = re.findall(r"^\s*(?:-\s+)?uses:\s*([\w.-]+/[\w.-]+)@(\S+)[ \t]*(?:#[ \t]*(\S+))?", WORKFLOW.read_text(),
                      re.MULTILINE)
    assert {action for action, _, _ in uses} == set(ACTION_MAJORS)
    for action, ref, comment in uses:
        if re.fullmatch(r"[0-9a-f]{40}", ref):  # pinned to a commit: the tag it is goes in the comment
            assert comment, f"{action}@{ref} has no version comment"
            version = comment
        else:
            version = ref
        assert re.fullmatch(rf"v{ACTION_MAJORS[action]}(\.\d+){{0,2}}", version), f"{action}@{ref} # {comment}"


def test_the_checkout_does_not_keep_the_token():
    [checkout] = [s for s in steps() if s.get("uses", "").startswith("actions/checkout@")]
    assert checkout["with"]["persist-credentials"] is False


def test_the_matrix_runs_python_3_11_and_3_14_without_fail_fast():
    strategy = job()["strategy"]
    versions = strategy["matrix"]["python-version"]
    assert all(isinstance(v, str) for v in versions)  # 3.10 as a number would read as 3.1
    assert {"3.11", "3.14"} <= set(versions)
    assert strategy["fail-fast"] is False


def test_concurrency_and_a_timeout():
    data = load()
    concurrency = data["concurrency"]
    assert "github.workflow" in concurrency["group"] and "github.ref" in concurrency["group"]
    cancel = concurrency["cancel-in-progress"]
    assert "pull_request" in cancel and "default_branch" in cancel
    assert isinstance(job()["timeout-minutes"], int) and 0 < job()["timeout-minutes"] <= 60


def test_the_workflow_tests_reproduces_compares_and_uploads():
    runs = "\n".join(step.get("run", "") for step in steps())
    assert "pip install -e '.[test]'" in runs and "python -m pytest -q" in runs
    assert "gradlab reproduce results/ci" in runs
    assert "--baseline results/reference" in runs and "GITHUB_STEP_SUMMARY" in runs


def test_the_compare_step_writes_markdown_and_html():
    command = compare_command()
    assert "--tolerance 0.5" in command and "--output results/ci/compare" in command
    assert "--markdown results/ci/compare/summary.md" in command
    assert re.search(r"--html \S+\.html", command)


def test_the_html_report_is_uploaded_as_one_unzipped_file_named_per_python():
    step = html_upload()
    assert step["with"]["archive"] is False
    path = expand_env(step["with"]["path"])
    # archive: false takes exactly one file, and names the artifact after it (`name` is ignored)
    assert "\n" not in path.strip() and not set("*?[") & set(path) and path.endswith(".html")
    assert "${{ matrix.python-version }}" in Path(path).name  # unique per matrix entry
    assert "name" not in step["with"]
    # the file uploaded is the one the comparison wrote
    html = re.search(r"--html (\S+)", compare_command()).group(1)
    if path != html:
        after_compare = steps()[next(i for i, s in enumerate(steps()) if "gradlab compare" in s.get("run", "")):]
        assert any(html in s.get("run", "") and Path(path).name in expand_env(s.get("run", ""))
                   for s in after_compare), "no step puts the HTML report where the upload looks for it"


def test_the_zip_holds_the_plots_the_sweep_table_and_the_comparison():
    step = zip_upload()
    assert "${{ matrix.python-version }}" in step["with"]["name"]  # unique per matrix entry
    path = step["with"]["path"]
    assert "runs/*/plots/*.png" in path and "sweeps/*/plots/*.png" in path
    assert "sweeps/*/summary.csv" in path and "results/ci/compare/" in path


def test_every_upload_and_the_summary_run_after_a_failure_and_nothing_hides_one():
    later = [s for s in steps() if s in uploads() or "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert len(later) >= 3
    for step in later:
        condition = str(step.get("if", ""))
        assert "always()" in condition or "!cancelled()" in condition, step
    assert "continue-on-error" not in job()
    assert not any(s.get("continue-on-error") for s in steps())


def test_the_summary_adds_no_image_links_and_names_the_html_artifact():
    [summary] = [s for s in steps() if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    run = summary["run"]
    assert "results/ci/compare/summary.md" in run
    assert "![" not in run and ".png" not in run and ".svg" not in run
    html_artifact = Path(expand_env(html_upload()["with"]["path"])).name
    assert html_artifact in expand_env(run) and "browser" in run
