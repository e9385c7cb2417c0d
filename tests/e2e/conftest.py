"""A running `streamlit run app.py` on a temporary demo database, and a headless Chromium.

Browser tests are skipped only when /usr/bin/chromium is missing on a laptop; with
CI=true a missing browser fails the run.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.support import ROOT, new_page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
STARTUP_SECONDS = 90


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """Browser tests run one after another on one xdist worker (`--dist loadgroup`): each
    starts servers and a Chromium, and two at once on a small machine would race their
    own timeouts; the other worker takes the rest of the suite meanwhile."""
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.xdist_group("browser"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; skip on a laptop without it, fail in CI."""
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium package.")
        pytest.skip(f"{CHROMIUM} is not installed; install Debian's chromium to run browser tests.")
    return CHROMIUM


@pytest.fixture(scope="session")
def serve(chromium_path, tmp_path_factory) -> Iterator[Callable[..., str]]:
    """Return serve(**env) → base URL of `streamlit run app.py` on a free port with `env`."""
    servers: list[tuple[subprocess.Popen, IO]] = []

    def start(**env: str) -> str:
        port = _free_port()
        log = (tmp_path_factory.mktemp("streamlit") / "streamlit.log").open("w")
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("DATABASE_URL", "HSL_AUTH_DISABLED", "HSL_AUTH_DISABLED_ROLE",
                                 "HSL_DEMO_DB")}
        server = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
             "--server.port", str(port), "--server.address", "127.0.0.1"],
            cwd=ROOT, env={**full_env, **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        servers.append((server, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Streamlit did not start; see {log.name}")
            time.sleep(0.5)
        return url

    yield start
    for server, _ in servers:  # all at once: each takes a moment to stop
        server.terminate()
    for server, log in servers:
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="session")
def app_url(serve, tmp_path_factory) -> str:
    """Base URL of the app on a fresh embedded demo database (filled on first run)."""
    demo_file = tmp_path_factory.mktemp("demo") / "demo.sqlite"
    return serve(HSL_DEMO_DB=str(demo_file), HSL_TIMEZONE="Europe/Moscow")


@pytest.fixture(scope="session")
def browser(chromium_path):
    """A headless Chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(chromium_path), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A fresh 1280×900 browser page."""
    tab = new_page(browser)
    yield tab
    tab.context.close()
