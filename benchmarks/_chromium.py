"""Local pages in headless Chromium (Debian's ``chromium`` package): screenshots for the
benchmark scripts that show a page, and the rendered DOM with what the page fetched for the
tests that open a page in a real browser. One command line, one throw-away browser profile."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import List, Optional, Tuple

INSTALL = "apt-get install -y chromium"  # Debian's package; `make test` (.ci/chromium) installs it where apt-get works


def find_browser() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _run(browser: str, page: Path, *flags: str) -> str:
    """Chromium's standard output for ``page`` opened with ``flags``, nothing kept."""
    with tempfile.TemporaryDirectory() as profile:
        command = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            *flags,
            page.resolve().as_uri(),
        ]
        done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    return done.stdout


def screenshot(browser: str, page: Path, png: Path, size: str) -> None:
    """Write ``png`` from ``page`` at ``size`` ("WIDTH,HEIGHT")."""
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(browser, page, f"--screenshot={png.resolve()}", f"--window-size={size}")


def rendered(browser: str, page: Path) -> Tuple[str, List[str]]:
    """(the DOM of ``page`` once loaded, as HTML; the URLs the page asked the network for).

    The URLs are read from Chromium's network log: the requests whose network isolation key
    is the page's (``file://``), not those of the browser itself (Google's, which its flags
    cannot all turn off)."""
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "net.json"
        dom = _run(browser, page, "--dump-dom", f"--log-net-log={log}")
        events = json.loads(log.read_text(encoding="utf8"))
    start = events["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    fetched = [
        e["params"]["url"]
        for e in events["events"]
        if e["type"] == start and e["params"].get("network_isolation_key", "").startswith("file://")
    ]
    return dom, fetched
