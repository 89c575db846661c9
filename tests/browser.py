"""Open an HTML report in headless Chromium, the way a reviewer opens a CI artifact, and say what the browser saw.

The tests use it, and so does ``python tests/browser.py REPORT.html SHOT.png`` (how the README's screenshots
are made). Selenium drives Debian's ``chromium`` through ``chromium-driver``; the network is cut off at the
host resolver, and every request the page makes is read back from the DevTools log, so a reference to
anything outside the file is seen even though it cannot load.
"""

from __future__ import annotations

import base64
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DRIVERS = ("chromedriver", "chromium-driver")
WIDTH = 1400  # CSS pixels: the report's max width, so the screenshot shows its full layout

# What the page reports about itself, run in the page after it loaded.
PROBE = """
const imgs = Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));
const svgs = Array.from(document.querySelectorAll('svg')).map(s => {
  const r = s.getBoundingClientRect(); return {width: r.width, height: r.height}; });
return {imgs: imgs, svgs: svgs, text: document.body.innerText, height: document.documentElement.scrollHeight};
"""


def find_browser() -> tuple[str, str] | None:
    """(browser, driver) executables, or None where either is missing."""
    browser = next((p for p in map(shutil.which, BROWSERS) if p), None)
    driver = next((p for p in map(shutil.which, DRIVERS) if p), None)
    return (browser, driver) if browser and driver else None


@dataclass
class Visit:
    """What the browser saw on one page."""

    images: list[dict]
    svgs: list[dict]
    text: str
    requests: list[str] = field(default_factory=list)  # every URL the page asked for, the page itself included
    console: list[dict] = field(default_factory=list)  # console messages at warning level or above

    @property
    def broken_images(self) -> list[dict]:
        return [i for i in self.images if not i["complete"] or i["width"] <= 0]

    @property
    def empty_svgs(self) -> list[dict]:
        return [s for s in self.svgs if s["width"] <= 0 or s["height"] <= 0]

    @property
    def outside_requests(self) -> list[str]:
        """Requests for anything but the file itself and its inline data."""
        return [u for u in self.requests if not u.startswith(("file:", "data:", "about:"))]

    @property
    def errors(self) -> list[dict]:
        return [m for m in self.console if m.get("level") == "SEVERE"]


def _driver(browser: str, driver: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WIDTH},900", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--host-resolver-rules=MAP * ~NOTFOUND", "--no-first-run", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def _requests(performance_log: list[dict]) -> list[str]:
    urls = []
    for entry in performance_log:
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def visit(page: Path, screenshot: Path | None = None, height: int | None = None) -> Visit:
    """Open ``page`` from ``file://``, wait for it to load, and (``screenshot``) save a PNG of the whole page,
    or of its top ``height`` pixels."""
    found = find_browser()
    if found is None:
        raise RuntimeError("no chromium and chromedriver on PATH")
    drv = _driver(*found)
    try:
        drv.execute_cdp_cmd("Network.enable", {})
        drv.get(Path(page).resolve().as_uri())
        seen = drv.execute_script(PROBE)
        result = Visit(seen["imgs"], seen["svgs"], seen["text"], _requests(drv.get_log("performance")),
                       [m for m in drv.get_log("browser") if m.get("level") in ("WARNING", "SEVERE")])
        if screenshot is not None:
            shot = drv.execute_cdp_cmd("Page.captureScreenshot", {
                "format": "png", "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": WIDTH, "height": min(seen["height"], height or seen["height"]),
                         "scale": 1}})
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        return result
    finally:
        drv.quit()


if __name__ == "__main__":  # python tests/browser.py REPORT.html SHOT.png [HEIGHT]
    report, shot = map(Path, sys.argv[1:3])
    seen = visit(report, shot, int(sys.argv[3]) if len(sys.argv) > 3 else None)
    print(f"{len(seen.images)} images ({len(seen.broken_images)} broken), {len(seen.outside_requests)} outside "
          f"requests, {len(seen.errors)} console errors; screenshot {shot}")
