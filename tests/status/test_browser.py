"""The status page in a real browser (headless Chromium through selenium), fed by a real consumer.

Debian's `chromium` and `chromium-driver` are installed by the `chromium`
fixture when missing (once per session; the test is skipped, saying why,
only if that fails). The page's screenshot is kept in tests/artifacts/.
"""

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.records import coupon, event, user

pytestmark = [pytest.mark.kafka, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
APT_TIMEOUT = 900


def _executables() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of chromium and chromedriver, installed with apt-get if missing."""
    found = _executables()
    if found:
        return found
    command = (
        "apt-get update && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y --no-install-recommends chromium chromium-driver"
    )
    try:
        result = subprocess.run(
            ["sh", "-c", command], capture_output=True, text=True, timeout=APT_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"chromium is not installed and installing it failed: {error}")
    found = _executables()
    if result.returncode != 0 or not found:
        pytest.skip(
            "chromium is not installed and `apt-get install chromium chromium-driver` failed "
            f"(exit {result.returncode}): {result.stderr.strip()[-500:]}"
        )
    return found


@pytest.fixture
def browser(chromium):
    """Headless Chromium that keeps the page's console messages."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1100",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(driver, script: str, *, timeout: float = 30.0, what: str):
    """Run `script` (a JS expression) until it is truthy; return its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(
        lambda d: d.execute_script(f"return {script};"), message=f"waited for {what}"
    )


def wait_for_text(driver, selector: str, text: str, *, timeout: float = 30.0) -> None:
    """Wait until the element at `selector` reads `text` (the page refreshes every 3 s)."""
    script = f"document.querySelector({json.dumps(selector)}).textContent === {json.dumps(text)}"
    wait_for(driver, script, timeout=timeout, what=f"{selector} to read {text!r}")


def row(topic: str, key: str) -> str:
    return f'tr[data-topic="{topic}"] [data-key="{key}"]'


def cell(driver, topic: str, key: str) -> str:
    return driver.execute_script(
        "return document.querySelector(arguments[0]).textContent;",
        row(topic, key),
    )


PAINTED_PIXELS = """
const canvas = document.querySelector('#chart canvas');
const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
return painted;
"""


def test_the_status_page_draws_its_chart_and_follows_the_records_a_consumer_stores(
    pipeline, live_server, browser
):
    users_topic = pipeline.topic("users")
    browser.get(f"{live_server.url}/status")
    wait_for(browser, "window.betrecoStatus && window.betrecoStatus.chart", what="the chart")
    assert browser.title == "betreco status"
    assert browser.execute_script(PAINTED_PIXELS) > 1000  # axes and grid, before any data
    assert cell(browser, users_topic, "stored_15m") == "0"
    assert browser.find_element("css selector", '[data-check="database"]').text == "database: ok"

    consumer = pipeline.start_consumer("users", "events", "coupons")
    for wave, size in enumerate((40, 120, 70)):
        first = 1 + wave * 1000
        pipeline.produce("users", [user(pk) for pk in range(first, first + size)])
        pipeline.produce("events", [event(pk) for pk in range(first, first + size // 2)])
        pipeline.produce("coupons", [coupon(first + i, first + i, [first]) for i in range(size)])
        time.sleep(3)
    pipeline.produce("users", [user(999_001, country="ZZ"), b"{not json"])  # two dead letters
    pipeline.produce("coupons", [coupon(999_002, 424_242, [1])])  # its user never comes: parked

    wait_for_text(browser, row(users_topic, "stored_15m"), "230", timeout=40)
    wait_for_text(browser, row(users_topic, "dead_lettered_15m"), "2")
    wait_for_text(browser, '[data-field="parked_coupons.count"]', "1")
    wait_for_text(browser, '[data-field="dead_letters.count"]', "2")
    for topic in ("users", "events", "coupons"):
        wait_for_text(browser, row(pipeline.topic(topic), "lag"), "0")
    assert consumer.alive(), consumer.log

    # The chart ends with the last full 10 s bucket, so it catches up within one.
    wait_for(
        browser,
        "Math.round(window.betrecoStatus.chart.data[1].reduce((a, b) => a + b, 0) * 10) === 230",
        what="the chart to hold the 230 users",
    )
    drawn = browser.execute_script(
        "const s = window.betrecoStatus; return {updates: s.updates, errors: s.errors, "
        "users: s.chart.data[1].reduce((a, b) => a + b, 0), series: s.chart.series.length};"
    )
    assert drawn["updates"] >= 3
    assert drawn["errors"] == 0
    assert drawn["series"] == 4  # time and three topics
    assert drawn["users"] * 10 == pytest.approx(230)  # records/s in 10 s buckets
    letters = browser.find_element("id", "dead-letters").text
    assert "country" in letters
    assert "not valid JSON" in letters

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "status.png"
    browser.find_element("tag name", "body").screenshot(str(screenshot))
    print(f"status page screenshot: {screenshot}")

    errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
    assert errors == []
