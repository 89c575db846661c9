"""The HTML reports: one self-contained file per run, sweep or comparison, with the same numbers and colours as
the terminal, every figure inline, and nothing that reaches outside the file."""

from __future__ import annotations

import base64
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import cli

from gradlab.compare import check
from gradlab.reporters import html as pages
from gradlab.results import load_run
from gradlab.sweep import load_sweep

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "results" / "reference"
PNG = b"\x89PNG\r\n\x1a\n"
invoke = cli(200)


class Page(HTMLParser):
    """Every tag with its attributes, and the text, of one page."""

    def __init__(self, text: str):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)

    def all(self, tag: str) -> list[dict]:
        return [attrs for t, attrs in self.tags if t == tag]

    @property
    def words(self) -> str:
        return " ".join(" ".join(self.text).split())


def self_contained(text: str) -> Page:
    """Assert the page fetches nothing: no script, no stylesheet link, no URL but inline data and anchors."""
    page = Page(text)
    assert not page.all("script") and not page.all("link") and not page.all("iframe")
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "poster", "data"):
            value = attrs.get(name)
            assert value is None or value.startswith(("data:", "#")), (tag, name, value[:80])
    assert not re.search(r"url\(|@import|@font-face", text)  # nothing fetched from the stylesheet either
    for img in page.all("img"):
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == PNG and img["alt"]
    return page


def test_a_run_page_has_the_verdict_theory_table_figures_config_and_metadata():
    result = load_run(REFERENCE / "runs" / "sigmoid_deep")
    text = pages.run_page(result)
    page = self_contained(text)
    words = page.words
    assert words.index(result.summary["message"]) < words.index("Per-layer gradients")  # the verdict on top
    assert "theory: χ₁ = 0.05572, ordered (vanishing)" in words
    assert len(page.all("img")) == 4  # every figure of a run
    assert "5.9e-20" in words  # layer 1's ‖∇W‖ at step 0, as the terminal table prints it
    assert "xavier_normal" in words and "numpy 2." in words and "softmax_cross_entropy" in words
    # coloured as the terminal colours it: layer 1 vanishing (cyan), the output layer healthy (green)
    cyan, green = (f"#{r:02x}{g:02x}{b:02x}" for r, g, b in (pages.THEME.ansi_colors[6], pages.THEME.ansi_colors[2]))
    assert re.search(rf"color: {cyan}[^>]*>5\.9e-20<", text) and re.search(rf"color: {green}[^>]*>1\.5e\+00<", text)


def test_a_diverged_run_says_so_on_top():
    text = pages.run_page(load_run(REFERENCE / "runs" / "lr_too_high"))
    words = self_contained(text).words
    assert words.index("status: diverged") < words.index("Per-layer gradients")


def test_a_sweep_page_has_the_verdicts_by_group_every_figure_and_every_run():
    summary = load_sweep(REFERENCE / "sweeps" / "default")
    text = pages.sweep_page(summary)
    page = self_contained(text)
    assert len(page.all("img")) == 4
    assert "healthy 51" in page.words and "vanishing 47" in page.words
    assert "sigmoid+xavier_normal 49 healthy 2–3 · vanishing 4–50" in page.words
    assert page.words.count("relu+he_normal") >= 2  # the group table and the every-run table
    assert len(text.encode()) <= 6_000_000


def test_a_pending_sweep_says_its_figures_wait_instead_of_drawing_half(tmp_path):
    summary = load_sweep(REFERENCE / "sweeps" / "default")
    summary.rows[0]["status"] = "pending"
    page = self_contained(pages.sweep_page(summary))
    assert not page.all("img") and "1 runs are not finished yet" in page.words


def test_a_compare_page_sums_up_shows_both_figures_and_marks_the_drift_red(drifted):
    found = check([drifted / "runs" / "sigmoid_deep", drifted / "runs" / "relu_he"], REFERENCE, 0.5)
    text = pages.compare_page(found, [])
    page = self_contained(text)
    words = page.words
    assert "FAIL exit status 1" in words
    assert "2 experiments checked 1 within tolerance 1 drifted" in words
    assert "largest difference: +3.00 decades (sigmoid_deep: ‖∇W‖ @0 at layer 1)" in words
    assert len(page.all("img")) == 4  # the baseline's and the current figure, for each experiment
    red = "#%02x%02x%02x" % pages.THEME.ansi_colors[1]
    red_rows = [re.sub(r"<[^>]+>", "", line).split() for line in text.splitlines() if f"color: {red}" in line]
    assert red_rows == [["‖∇W‖", "@0", "layer", "1", "-19.23", "-16.23", "+3.00"],
                        ["‖∇W‖", "@end", "layer", "1", "-19.30", "-16.30", "+3.00"]]  # in red, and nothing else
    assert words.index("drifted run sigmoid_deep") < words.index("ok run relu_he")  # the contents line


def test_a_compare_page_of_identical_results_passes():
    runs = REFERENCE / "runs" / "relu_he"
    words = self_contained(pages.compare_page(check([runs], REFERENCE, 0.5), [])).words
    assert "PASS exit status 0" in words and "largest difference: none: every value is identical" in words


# -- the command line -------------------------------------------------------------------------------------------


@pytest.fixture
def run_copy(tmp_path) -> Path:
    return Path(shutil.copytree(REFERENCE / "runs" / "relu_he", tmp_path / "relu_he"))


@pytest.mark.parametrize("args, where", [
    ([], "{run}/report.html"),  # --html without FILE, last
    (["--no-plots"], "{run}/report.html"),  # --html without FILE, before another option
    (["{tmp}/page.html"], "{tmp}/page.html"),
    (["{tmp}"], "{tmp}/report.html"),  # a folder: the report goes inside
    (["{tmp}/new/deep/page.html"], "{tmp}/new/deep/page.html"),
])
def test_report_html_writes_where_asked(run_copy, tmp_path, args, where):
    fill = {"run": run_copy, "tmp": tmp_path}
    result = invoke("report", run_copy, "--html", *[a.format(**fill) for a in args])
    assert result.exit_code == 0, result.output
    path = Path(where.format(**fill))
    assert f"report: {path}" in result.output
    self_contained(path.read_text())


def test_a_full_run_of_a_shipped_config_fits_the_page_budget(tmp_path):
    assert invoke("run", ROOT / "configs" / "tanh_xavier.yaml", "-o", tmp_path, "--no-plots").exit_code == 0
    (run,) = (tmp_path / "tanh_xavier").iterdir()
    result = invoke("report", run, "--no-plots", "--html")
    assert result.exit_code == 0, result.output
    size = (run / "report.html").stat().st_size
    assert 100_000 < size <= 2_000_000
    words = self_contained((run / "report.html").read_text()).words
    assert all(f" {key} " in words for key in ("command", "started", "ended", "BLAS", "platform"))  # provenance


def test_compare_html_defaults_into_the_output_folder_and_keeps_the_exit_status(drifted, tmp_path):
    result = invoke("compare", drifted / "runs" / "sigmoid_deep", "--baseline", REFERENCE, "-o", tmp_path / "cmp",
                    "--html")
    assert result.exit_code == 1, result.output
    words = self_contained((tmp_path / "cmp" / "report.html").read_text()).words
    assert "FAIL exit status 1" in words and "overlay: baseline and current on shared axes" in words


def test_compare_html_without_a_baseline_overlays_every_input(tmp_path):
    runs = REFERENCE / "runs"
    result = invoke("compare", runs / "relu_he", runs / "sigmoid_deep", runs / "elu", "-o", tmp_path,
                    "--html", tmp_path / "c.html")
    assert result.exit_code == 0, result.output
    page = self_contained((tmp_path / "c.html").read_text())
    assert len(page.all("img")) == 1 + 2 * 2 and "every input against relu_he" in page.words


def test_a_corrupt_run_gets_no_page_and_one_line(run_copy):
    (run_copy / "layers.csv").write_text("layer,step\n1,zero\n")
    result = invoke("report", run_copy, "--html")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert str(run_copy / "layers.csv") in result.output and not (run_copy / "report.html").exists()
