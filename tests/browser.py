"""A real headless Chromium for the app's tests and screenshots (Debian's ``chromium``
and ``chromium-driver``, driven by Selenium; nothing is downloaded at run time).

Where the binaries are missing the browser tests are skipped with the reason, except in
CI (``CI`` set), where that is an error: ``.ci/run`` installs them.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

INSTALL = "apt-get install -y chromium chromium-driver"


def chromium_paths() -> tuple[str, str] | None:
    """(browser, driver) when both are installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def require_chromium() -> tuple[str, str]:
    found = chromium_paths()
    if found is None:
        if os.environ.get("CI"):
            pytest.fail(f"Chromium or chromedriver not found (Debian: {INSTALL})")
        pytest.skip(f"Chromium or chromedriver not found (Debian: {INSTALL})")
    return found


def start_chromium(width: int = 1366, height: int = 768) -> Any:
    """A headless Chromium that can only reach this machine: every other host name is
    resolved to nothing, so a page that asks for a CDN shows it as a failed request."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = require_chromium()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager: never download
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--no-first-run",
        f"--window-size={width},{height}",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def requested_urls(driver: Any) -> list[str]:
    """Every URL the current page loaded: itself and its resources (scripts, styles,
    fonts, images, fetches)."""
    return driver.execute_script(
        "return [location.href].concat("
        "performance.getEntriesByType('resource').map(function (e) { return e.name; }))"
    )


def console_errors(driver: Any) -> list[str]:
    """The browser console's errors since the last call."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
