"""Why: the app is used in a browser. One end-to-end run proves the pieces meet: `prosora app`
(a real Streamlit server) in front of the real API, Debian's headless Chromium opening the
Ask page, a question submitted through the form, the drafts rendered with their copy
buttons. A screenshot is kept as a test artefact for a person to look at."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from prosora_pipelines_tests.api.conftest import QUERY_TEXT
from prosora_pipelines_tests.app.conftest import LiveApi

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PROSORA = Path(sys.executable).with_name("prosora")
# Kept after the run (git-ignored), for a person or CI to look at.
ARTEFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


EMAIL = "browser@example.com"
MARK_POSTED = "//button[.//p[text()='Mark posted']]"
DRAFT = "[data-testid='stCode']"


@pytest.fixture
def app_server(live_api: LiveApi, tmp_path: Path) -> Iterator[str]:
    """`prosora app` on a free loopback port, signed in through PROSORA_API_TOKEN."""
    port = _free_port()
    log_path = tmp_path / "prosora-app.log"
    env = os.environ | {"PROSORA_API_URL": live_api.url, "PROSORA_API_TOKEN": live_api.token(EMAIL)}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PROSORA), "app", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{url}/_stcore/health", timeout=1).text == "ok":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
    output = log_path.read_text()
    assert "Traceback" not in output, output


@pytest.fixture
def browser() -> Iterator[webdriver.Chrome]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("CI"):
            pytest.fail("CI needs Debian's chromium and chromium-driver (see .ci/run)")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1600,2400"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_a_question_asked_in_chromium_renders_drafts_that_copy_exactly(
    app_server: str, browser: webdriver.Chrome, live_api: LiveApi
) -> None:
    browser.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": app_server, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    browser.get(app_server)
    wait = WebDriverWait(browser, 60)
    question = wait.until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "textarea"))
    )
    question.send_keys(QUERY_TEXT)
    browser.find_element(By.XPATH, "//button[.//p[text()='Ask']]").click()
    # The finished answer (each draft can be marked posted), with every draft's text drawn.
    wait.until(
        lambda driver: (
            len(driver.find_elements(By.XPATH, MARK_POSTED))
            == len(driver.find_elements(By.CSS_SELECTOR, DRAFT))
            >= 3
        )
    )
    page = browser.find_element(By.TAG_NAME, "body").text
    assert "Evidence (" in page
    assert "LinkedIn post #1" in page
    assert "Predicted engagement" in page
    assert "Traceback" not in page
    drafts = browser.find_elements(By.CSS_SELECTOR, DRAFT)
    assert all(draft.text.strip() for draft in drafts)
    # The copy button of a draft puts exactly the stored draft on the clipboard.
    ActionChains(browser).move_to_element(drafts[0]).perform()
    drafts[0].find_element(By.CSS_SELECTOR, "button[aria-label='Copy to clipboard']").click()
    copied = browser.execute_async_script(
        "const done = arguments[0]; navigator.clipboard.readText().then(done, String);"
    )
    history = httpx.get(
        f"{live_api.url}/api/v1/users/me/history",
        headers={"Authorization": f"Bearer {live_api.token(EMAIL)}"},
    ).json()
    assert copied == history["queries"][0]["variants"][0]["text"]
    ARTEFACTS.mkdir(exist_ok=True)
    screenshot = ARTEFACTS / "ask-page.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000
    print(f"screenshot of the Ask page: {screenshot}")
