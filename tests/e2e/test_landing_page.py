"""The landing page's install picker, driven in real headless Chromium.

An index of small generated wheels is built and served with the real
`index`, `yank` and `serve` commands; the browser chooses torch and CUDA in
the picker and the page must show exactly the pip, uv and pyproject lines
for that choice, and change them when the choice changes. A screenshot is
saved under pytest's temporary folder (its path is printed).

Needs Chromium (or Chrome) and a matching chromedriver on PATH, or named by
$WHEEL_MATRIX_CHROMIUM / $WHEEL_MATRIX_CHROMEDRIVER, and selenium; without
them the tests fail and say what to install (`.ci/run` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomllib
from support import ROOT, free_port, wait_until_serving, wheel_matrix

from wheel_matrix.plan.recipes import KINDS, recipes
from wheel_matrix.wheel.make import make_wheel

pytestmark = pytest.mark.e2e


PROJECT = "causal-conv1d"
# Channel -> torch minors with a wheel there. cu132's torch 2.13 build gets yanked.
BUILDS = {
    "cpu": ["2.13", "2.14"],
    "cu126": ["2.9", "2.12", "2.13", "2.14"],
    "cu130": ["2.14"],
    "cu132": ["2.13", "2.14"],
}
YANKED = "1.7.0+cu132torch2.13"
TITLES = {
    "pypi": "PyPI's torch (pip install torch)",
    "cpu": "CPU only",
    "cu126": "CUDA 12.6",
    "cu130": "CUDA 13.0",
    "cu132": "CUDA 13.2",
}
# Chromium as root in a container: no sandbox, no GPU, nothing fetched on its own account.
CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1200,1000",
]


def _program(env: str, names: tuple[str, ...]) -> str | None:
    given = os.environ.get(env)
    if given:
        return given if os.access(given, os.X_OK) else None
    return next((p for p in map(shutil.which, names) if p), None)


def browser_programs() -> tuple[str, str]:
    """Chromium and chromedriver, or fail saying what is missing and how to get it."""
    chromium = _program(
        "WHEEL_MATRIX_CHROMIUM",
        ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"),
    )
    driver = _program("WHEEL_MATRIX_CHROMEDRIVER", ("chromedriver",))
    missing = [n for n, p in (("chromium", chromium), ("chromedriver", driver)) if p is None]
    if chromium is None or driver is None:
        pytest.fail(
            f"{' and '.join(missing)} not found on PATH or in $WHEEL_MATRIX_CHROMIUM / "
            "$WHEEL_MATRIX_CHROMEDRIVER (Debian: apt-get install -y chromium chromium-driver)",
            pytrace=False,
        )
    return chromium, driver


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The served index's root URL, as the page was built to name it."""
    tmp = tmp_path_factory.mktemp("landing")
    for channel, torches in BUILDS.items():
        for torch in torches:
            make_wheel(
                tmp / "wheels",
                PROJECT,
                f"1.7.0+{channel}torch{torch}",
                requires_dist=[f"torch=={torch}.*"],
            )
    # An older build: the page must name 1.7.0 as the newest for cu130 + torch 2.14.
    make_wheel(tmp / "wheels", PROJECT, "1.6.0+cu130torch2.14", requires_dist=["torch==2.14.*"])
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    root = str(tmp / "index")
    wheel_matrix("index", "--wheels", str(tmp / "wheels"), "--out", root, "--base-url", base)
    wheel_matrix("yank", YANKED, "--root", root, "--base-url", base, "--reason", "broken")
    server = subprocess.Popen(
        [sys.executable, "-m", "wheel_matrix", "serve", "--root", root, "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_serving(base, server)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    chromium, chromedriver = browser_programs()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    tmp = tmp_path_factory.mktemp("chromium")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # An explicit driver path: selenium then never tries to download one.
    service = Service(executable_path=chromedriver, log_output=str(tmp / "chromedriver.log"))
    browser = webdriver.Chrome(options=options, service=service)
    browser.set_page_load_timeout(30)
    try:
        yield browser
    finally:
        browser.quit()


def expected_lines(base: str, channel: str, torch: str) -> dict[str, str]:
    """What the page must show, spelled out here so a wrong template fails too."""
    url = f"{base}{channel}/"
    # Compute channels take torch from PyTorch's index; the pypi channel from PyPI.
    torch_index = f"https://download.pytorch.org/whl/{channel}"
    extra = "" if channel == "pypi" else f"--extra-index-url {torch_index} "
    return {
        "url": url,
        "pip": (
            f"pip install --extra-index-url {url} {extra}--only-binary={PROJECT} {PROJECT} "
            f'"torch=={torch}.*"'
        ),
        "uv_pip": f'uv pip install --extra-index-url {url} {extra}{PROJECT} "torch=={torch}.*"',
    }


def text_of(browser: Any, element_id: str) -> str:
    # textContent: exactly what a copy gives, however the browser wraps it on screen.
    text: str = browser.execute_script(
        "return document.getElementById(arguments[0]).textContent", element_id
    )
    return text


def choose(browser: Any, select_id: str, visible: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element(By.ID, select_id)).select_by_visible_text(visible)


def options_of(browser: Any, select_id: str) -> tuple[list[tuple[str, str]], str]:
    """The (value, label) options of a select, and the chosen value."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    select = Select(browser.find_element(By.ID, select_id))
    shown = [(o.get_attribute("value"), o.text) for o in select.options]
    return shown, select.first_selected_option.get_attribute("value")


def assert_shows(browser: Any, base: str, channel: str, torch: str, newest: str) -> None:
    want = expected_lines(base, channel, torch)
    got = {key: text_of(browser, f"out-{key}") for key in want}
    assert got == want, f"torch {torch}, {channel}"
    # Every recipe is the one the CLI prints (recipes.py), with the newest build's pin.
    torch_index = "https://download.pytorch.org/whl/{compute}"
    cli = recipes(base, channel, torch, newest, [], torch_index, PROJECT)
    for kind, _title in KINDS:
        assert text_of(browser, f"out-{kind}") == cli[kind].text, kind
    # The uv project's lines are valid TOML that route causal-conv1d to the channel.
    doc = tomllib.loads(cli["uv_project"].steps[0][2])
    assert doc["tool"]["uv"]["index"][0]["url"] == f"{base}{channel}/"
    assert doc["tool"]["uv"]["sources"][PROJECT]["index"] == doc["tool"]["uv"]["index"][0]["name"]
    assert text_of(browser, "out-version") == newest


def test_picker_shows_the_exact_lines_for_each_choice(
    driver: Any, base_url: str, tmp_path: Path, record_property: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(base_url)
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "picker").is_displayed())

    # Newest torch first, sorted as versions (2.9 below 2.12), the newest preselected.
    torches, chosen = options_of(driver, "torch")
    assert torches == [(t, f"torch {t}") for t in ("2.14", "2.13", "2.12", "2.9")]
    assert chosen == "2.14"
    computes, chosen = options_of(driver, "compute")
    assert computes == [(c, TITLES[c]) for c in ("pypi", "cu132", "cu130", "cu126", "cpu")]
    assert chosen == "pypi"
    # PyPI's torch 2.14 is the CUDA 13.0 build (matrix.yaml's pypi_cuda).
    assert_shows(driver, base_url, "pypi", "2.14", "1.7.0+cu130torch2.14")

    choose(driver, "compute", "CUDA 13.2")
    assert_shows(driver, base_url, "cu132", "2.14", "1.7.0+cu132torch2.14")

    choose(driver, "compute", "CUDA 13.0")
    assert_shows(driver, base_url, "cu130", "2.14", "1.7.0+cu130torch2.14")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1200, height + 150)
    shot = tmp_path / "landing-torch2.14-cu130.png"
    assert driver.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    record_property("screenshot", str(shot))
    print(f"landing page screenshot: {shot}")

    choose(driver, "compute", "CUDA 12.6")
    assert_shows(driver, base_url, "cu126", "2.14", "1.7.0+cu126torch2.14")

    # Torch 2.13: cu130 has no build and cu132's is yanked; CUDA 12.6 stays chosen.
    choose(driver, "torch", "torch 2.13")
    computes, chosen = options_of(driver, "compute")
    assert computes == [("cu126", "CUDA 12.6"), ("cpu", "CPU only")] and chosen == "cu126"
    assert_shows(driver, base_url, "cu126", "2.13", "1.7.0+cu126torch2.13")

    choose(driver, "compute", "CPU only")
    assert_shows(driver, base_url, "cpu", "2.13", "1.7.0+cputorch2.13")

    # Torch 2.9 is only built for CUDA 12.6: the choice moves there.
    choose(driver, "torch", "torch 2.9")
    computes, chosen = options_of(driver, "compute")
    assert computes == [("cu126", "CUDA 12.6")] and chosen == "cu126"
    assert_shows(driver, base_url, "cu126", "2.9", "1.7.0+cu126torch2.9")


def test_page_is_self_contained_and_copies_a_line(driver: Any, base_url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    origin = base_url.rstrip("/")
    driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": origin, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    driver.get(base_url)
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "picker").is_displayed())
    # Nothing but the index itself is fetched: no CDN, web fonts or remote scripts.
    fetched = driver.execute_script(
        "return performance.getEntriesByType('resource').map((e) => e.name)"
    )
    linked = driver.execute_script(
        "return [...document.querySelectorAll('[src], [href]')]"
        ".map((e) => e.src || e.href).filter(Boolean)"
    )
    foreign = [u for u in [*fetched, *linked] if not u.startswith((base_url, "data:"))]
    assert foreign == []
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    choose(driver, "torch", "torch 2.13")
    choose(driver, "compute", "CPU only")
    button = driver.find_element(By.CSS_SELECTOR, 'button.copy[data-target="out-uv_pip"]')
    button.click()
    WebDriverWait(driver, 5).until(lambda d: button.text == "Copied")
    copied = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "navigator.clipboard.readText().then(done, (e) => done('error: ' + e));"
    )
    assert copied == expected_lines(base_url, "cpu", "2.13")["uv_pip"]
