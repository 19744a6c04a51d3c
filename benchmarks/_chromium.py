"""Screenshots of local pages in headless Chromium (Debian's ``chromium`` package), for the
benchmark scripts that show a page: one command line, one throw-away browser profile."""

import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Optional


def find_browser() -> Optional[str]:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(browser: str, page: Path, png: Path, size: str) -> None:
    """Write ``png`` from ``page`` at ``size`` ("WIDTH,HEIGHT"), with nothing fetched or kept."""
    png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as profile:
        shot = [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--screenshot={png.resolve()}",
            f"--window-size={size}",
            page.resolve().as_uri(),
        ]
        subprocess.run(shot, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=300)
