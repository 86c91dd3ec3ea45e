"""Browser tests: Debian's headless Chromium driven by Selenium against a real uvicorn API.

One session: ``credit-scoring demo --no-serve`` trains and promotes a model in an embedded store
(about a minute), then ``uvicorn --factory credit_scoring.api.app:create_app`` serves it with
scoring, officer, auditor and admin keys. axe-core (npm registry, pinned) is fetched once with
``npm pack`` into ``~/.cache/credit-scoring`` and injected into pages for the accessibility checks.
Screenshots and the printed notice go to ``$BROWSER_ARTIFACTS`` (default
``.artifacts/browser``), kept as CI artifacts.

Outside CI the tests skip when chromium, chromedriver or npm is missing; in CI that is a failure
(``.ci/run`` installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers.servers import VENV_BIN, free_port, stop, wait_http

IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
AXE_VERSION = "4.11.0"
KEYS = {
    "scoring": "br-scoring",
    "officer": "br-officer",
    "auditor": "br-auditor",
    "admin": "br-admin",
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _need(ok: bool, what: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"{what} is required in CI (.ci/run installs it)")
    pytest.skip(f"{what} is not installed (outside CI: skipped)")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    out = Path(os.environ.get("BROWSER_ARTIFACTS", ROOT / ".artifacts" / "browser"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="session")
def axe_js() -> str:
    """axe-core's ``axe.min.js``, taken from the npm registry once (``npm pack``)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache = cache / "credit-scoring" / f"axe-core-{AXE_VERSION}"
    cache.mkdir(parents=True, exist_ok=True)
    script = cache / "axe.min.js"
    if not script.is_file():
        npm = shutil.which("npm")
        _need(npm is not None, "npm")
        assert npm is not None
        subprocess.run(
            [npm, "pack", f"axe-core@{AXE_VERSION}", "--pack-destination", str(cache), "--silent"],
            check=True,
            timeout=300,
        )
        with tarfile.open(cache / f"axe-core-{AXE_VERSION}.tgz") as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            script.write_bytes(member.read())
    return script.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An embedded store with a trained, validated, promoted production model."""
    home = tmp_path_factory.mktemp("browser-home")
    env = {
        **os.environ,
        "CREDIT_SCORING_HOME": str(home),
        "CREDIT_SCORING_CV_FOLDS": "2",
        "CREDIT_SCORING_CV_REPEATS": "1",
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    done = subprocess.run(
        [str(VENV_BIN / "credit-scoring"), "demo", "--no-serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=home,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return home


@dataclass
class Api:
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def score(self, record: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(
            self.url + "/v1/score", json=record, headers={"X-API-Key": KEYS["scoring"]}, timeout=10
        )
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body


@pytest.fixture(scope="session")
def api(demo_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    port = free_port()
    log = tmp_path_factory.mktemp("browser-api") / "api.log"
    env = {
        **os.environ,
        "CREDIT_SCORING_HOME": str(demo_home),
        "CREDIT_SCORING_API_KEYS": KEYS["scoring"],
        "CREDIT_SCORING_OFFICER_API_KEYS": KEYS["officer"],
        "CREDIT_SCORING_AUDITOR_API_KEYS": KEYS["auditor"],
        "CREDIT_SCORING_ADMIN_API_KEY": KEYS["admin"],
    }
    env.pop("MLFLOW_TRACKING_URI", None)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(VENV_BIN / "python"),
                "-m",
                "uvicorn",
                "--factory",
                "credit_scoring.api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=demo_home,
        )
    server = Api(f"http://127.0.0.1:{port}", proc, log)
    try:
        wait_http(server.url + "/healthz", timeout=180, proc=proc)
        deadline = time.monotonic() + 120
        while httpx.get(server.url + "/readyz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.3)
        yield server
    finally:
        stop(proc)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Chromium whose only reachable host is 127.0.0.1 (a dead proxy for the rest)."""
    _need(Path(CHROMIUM).is_file() and Path(CHROMEDRIVER).is_file(), "chromium + chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,1600",
        # No network but the API: every other host goes to a closed port.
        "--proxy-server=http://127.0.0.1:9",
        "--proxy-bypass-list=127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-domain-reliability",
        "--disable-sync",
        "--no-first-run",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()
