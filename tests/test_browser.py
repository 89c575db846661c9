"""Each kind of HTML report opened in a real browser (headless Chromium through Selenium), from ``file://`` with
the network cut off, as a reviewer opens a CI artifact: every figure drawn, no request leaving the file, no
console error, the verdict on the page. Full-page screenshots go to results/screenshots/ to be looked at."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REFERENCE, cli

pytest.importorskip("selenium", reason="selenium is in the test extra: pip install -e '.[test]'")
from browser import find_browser, visit  # noqa: E402

pytestmark = pytest.mark.skipif(
    find_browser() is None,
    reason="no chromium and chromedriver on PATH (Debian: apt-get install chromium chromium-driver; .ci/run "
           "installs them where it can)")

SHOTS = REFERENCE.parent / "screenshots"
invoke = cli(200)


@pytest.fixture(scope="module")
def reports(tmp_path_factory, drifted) -> dict[str, tuple[Path, str]]:
    """Each kind of report, with a text its verdict must show."""
    out = tmp_path_factory.mktemp("reports")
    made = {
        "run": (["report", REFERENCE / "runs" / "sigmoid_deep", "--no-plots"], 0,
                "vanishing: first-layer ‖∇W‖ is 10^-19.4 of the last layer's"),
        "sweep": (["report", REFERENCE / "sweeps" / "default", "--no-plots"], 0, "sigmoid+xavier_normal"),
        "compare": (["compare", drifted, "--baseline", REFERENCE, "-o", out / "figures"], 1, "FAIL"),
    }
    pages = {}
    for kind, (args, code, says) in made.items():
        result = invoke(*args, "--html", out / f"{kind}.html")
        assert result.exit_code == code, result.output
        pages[kind] = (out / f"{kind}.html", says)
    return pages


# compare: two experiments, each with the baseline's figure, the current one and their overlay
@pytest.mark.parametrize("kind, figures", [("run", 4), ("sweep", 4), ("compare", 2 * 3)])
def test_a_report_opens_offline_with_every_figure_and_no_error(reports, kind, figures):
    page, says = reports[kind]
    seen = visit(page, SHOTS / f"{kind}.png")
    assert len(seen.images) == figures and not seen.broken_images and not seen.empty_svgs
    assert seen.requests and not seen.outside_requests, seen.outside_requests
    assert not seen.errors, seen.errors
    assert says in seen.text
    shot = (SHOTS / f"{kind}.png").read_bytes()
    assert shot[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(shot[20:24], "big") > 1000  # the whole page's height


def test_the_browser_checks_catch_a_page_that_reaches_out(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><title>bad</title></head><body><p>exploding</p>'
                    '<img alt="remote" src="http://gradlab.invalid/figure.png">'
                    '<img alt="broken" src="data:image/png;base64,AAAA">'
                    '<script>console.error("boom")</script></body></html>')
    seen = visit(page)
    assert seen.outside_requests == ["http://gradlab.invalid/figure.png"]
    assert len(seen.broken_images) == 2
    assert any("boom" in m["message"] for m in seen.errors)
