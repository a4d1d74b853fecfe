"""Debian's headless Chromium, driven by Selenium through Debian's chromedriver: what the
console's browser tests and the README's screenshots (scripts/console_screenshots.py)
share. Both come from apt (scripts/setup.sh), so nothing is downloaded: the paths are given
to Selenium, which then never looks for a browser or driver of its own."""

from __future__ import annotations

import shutil
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service as DriverService
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = ("chromium", "chromium-browser")
CHROMEDRIVER = ("chromedriver",)

__all__ = ["By", "WebDriverWait", "chromium", "ec", "missing"]


def _which(names: tuple[str, ...]) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def missing() -> str | None:
    """Why the browser cannot run here (None: it can)."""
    if _which(CHROMIUM) is None or _which(CHROMEDRIVER) is None:
        return ("Chromium and its driver are not installed (apt-get install chromium "
                "chromium-driver; scripts/setup.sh does)")
    return None


def chromium(*, downloads: Path | None = None, size: tuple[int, int] = (1280, 900)
             ) -> webdriver.Chrome:
    """A headless Chromium; files it downloads go to `downloads` without asking."""
    options = webdriver.ChromeOptions()
    options.binary_location = _which(CHROMIUM) or CHROMIUM[0]
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                 "--disable-gpu", f"--window-size={size[0]},{size[1]}",
                 "--hide-scrollbars"):
        options.add_argument(flag)
    if downloads is not None:
        options.add_experimental_option("prefs", {
            "download.default_directory": str(downloads),
            "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=DriverService(_which(CHROMEDRIVER)), options=options)
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                               {"behavior": "allow", "downloadPath": str(downloads)})
    return driver
