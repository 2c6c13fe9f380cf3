"""The upload page (web/) in a real browser: Debian's headless Chromium, driven by Selenium.

Open the page the local API serves, choose a portrait, upload it through POST /uploads' form, wait for
READY, fetch the finals, and check the images the page shows: loaded (naturalWidth > 0) and, for the
finals, of the spec's pixel size.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from idphoto.specs import CATALOGUE
from local.stack import Stack

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
WAIT_S = 120


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """A fresh headless Chromium (make setup installs it; a missing browser fails, never skips)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def images(driver: Any, css: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(i => "
        "({complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))",
        css,
    )
    return found


def test_the_page_uploads_a_portrait_and_shows_its_previews_and_finals(
    stack: Stack, browser: Any, portrait: bytes, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    path = tmp_path / "me.jpg"
    path.write_bytes(portrait)
    page = stack.api_url.rsplit("/", 1)[0] + "/"
    wait = WebDriverWait(browser, WAIT_S)

    browser.get(page)
    browser.find_element(By.ID, "file").send_keys(str(path))
    Select(browser.find_element(By.ID, "spec")).select_by_value("cn-one-inch")  # allows white and blue
    browser.find_element(By.CSS_SELECTOR, "input[name=colour][value=blue]").click()
    browser.find_element(By.ID, "upload").click()
    wait.until(
        lambda d: d.find_element(By.ID, "status").text.startswith(("Ready", "The photo FAILED", "S3 "))
    )

    assert browser.find_element(By.ID, "status").text.startswith("Ready"), browser.find_element(
        By.ID, "status"
    ).text
    wait.until(lambda d: all(i["complete"] for i in images(d, "img.preview")))
    previews = images(browser, "img.preview")
    assert len(previews) == 2 and all(i["width"] > 0 for i in previews)

    browser.find_element(By.ID, "fetch-finals").click()
    wait.until(
        lambda d: (
            len(images(d, "img.final-photo")) == 2
            and all(i["complete"] for i in images(d, "img.final-photo"))
        )
    )

    spec = CATALOGUE.get("cn-one-inch")
    assert spec is not None
    spec_size = (spec.width_px, spec.height_px)
    assert [(i["width"], i["height"]) for i in images(browser, "img.final-photo")] == [spec_size, spec_size]
    sheets = browser.find_elements(By.CSS_SELECTOR, "a.sheet")
    assert [s.get_attribute("download") for s in sheets] == ["white-sheet.jpg", "blue-sheet.jpg"]
