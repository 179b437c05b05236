"""Debian's chromium driven by Playwright for Python, for the tests of the browser UI.

Playwright's own browser downloads are never used: the tests launch /usr/bin/chromium
(tools/setup.sh installs it) with a fresh profile, and every page error or console error
is collected so a test can assert there were none.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.waiting import wait_until

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@contextmanager
def chromium(profile: Path) -> Iterator[object]:
    """A persistent context on a fresh profile dir; `context.problems` collects errors."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run tools/setup.sh (it installs chromium)")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1280, "height": 900},
        )  # fmt: skip
        problems: list[str] = []
        context.problems = problems

        def watch(page) -> None:
            page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console {msg.type}: {msg.text}")
                    if msg.type == "error"
                    else None
                ),
            )

        context.on("page", watch)
        for page in context.pages:
            watch(page)
        try:
            yield context
        finally:
            context.close()


def screenshot(page, tmp_path: Path, name: str) -> Path:
    """Saved under the test's tmp dir, and copied to $GAITLINK_UI_ARTIFACTS when set."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    if target := os.environ.get("GAITLINK_UI_ARTIFACTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)
    return path


FPS_JS = """(ms) => new Promise((done) => {
  let frames = 0; const t0 = performance.now();
  function tick(t) { frames++; if (t - t0 < ms) requestAnimationFrame(tick);
                     else done(frames * 1000 / (t - t0)); }
  requestAnimationFrame(tick);
})"""


def js_heap_bytes(page) -> int:
    """The page's used JS heap after a full garbage collection (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("HeapProfiler.collectGarbage")
        return int(cdp.send("Runtime.getHeapUsage")["usedSize"])
    finally:
        cdp.detach()


def until(what: str, check, timeout_s: float = 60.0):
    """wait_until polling twice a second, what is awaited first (reads well in page steps)."""
    return wait_until(check, timeout_s, what, every_s=0.5)
