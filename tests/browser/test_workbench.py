"""The workbench in a real browser: sign in, fill the form, see the decision and its reasons,
open what would change it, override a review case, look the decision up as an auditor, print the
adverse action notice, and read /docs with no network (no request leaves the API); axe-core
finds no serious violation on any workbench page.

The tests run in file order and share one browser and one API (see conftest.py).
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from conftest import KEYS, ROOT, Api

from credit_scoring.data.schema import FeatureSchema

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BUNDLED = ROOT / "src" / "credit_scoring" / "data" / "bundled"
SCHEMA = FeatureSchema.load(BUNDLED / "german_credit.schema.yaml")
#: Shared between the ordered tests of this module.
seen: dict[str, Any] = {}


def by_css(driver: Any, css: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.CSS_SELECTOR, css)


def all_css(driver: Any, css: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return list(driver.find_elements(By.CSS_SELECTOR, css))


def submit(driver: Any, css: str) -> None:
    """Click ``css`` and wait until the browser has left the page (a navigation)."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    old = by_css(driver, "html")
    by_css(driver, css).click()
    # While the page is being replaced, chromedriver may answer "Node with given id does not
    # belong to the document" instead of "stale element": keep polling through it.
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        expected_conditions.staleness_of(old)
    )
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )


def shot(driver: Any, artifacts: Path, name: str) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, max(900, min(int(height) + 40, 6000)))
    driver.save_screenshot(str(artifacts / f"{name}.png"))


def check_a11y(driver: Any, axe_js: str, page: str) -> None:
    """axe-core on the current page: no serious or critical violation."""
    driver.execute_script(axe_js)
    violations = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length}))));"
    )
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not serious, f"{page}: {json.dumps(serious, indent=1)}"


def sign_in(driver: Any, api: Api, role: str, name: str) -> None:
    driver.get(api.url + "/ui/sign-in")
    by_css(driver, "#name").send_keys(name)
    by_css(driver, "#key").send_keys(KEYS[role])
    submit(driver, "main form button[type=submit]")


def fill(driver: Any, record: dict[str, Any]) -> None:
    from selenium.webdriver.support.ui import Select

    for f in SCHEMA.features:
        field = by_css(driver, f"#f-{f.name}")
        if f.type == "categorical":
            Select(field).select_by_value(str(record[f.name]))
        else:
            field.clear()
            field.send_keys(str(record[f.name]))


def applicants(api: Api) -> dict[str, dict[str, Any]]:
    """A real applicant of the bundled data in each band (as the served model scores them)."""
    if "applicants" not in seen:
        rows = pd.read_csv(BUNDLED / "german_credit.csv")[SCHEMA.feature_names]
        found: dict[str, dict[str, Any]] = {}
        for record in rows.head(300).to_dict(orient="records"):
            band = api.score(record)["decision"]
            found.setdefault(band, record)
            if len(found) == 3:
                break
        assert {"review", "decline"} <= set(found), found.keys()
        seen["applicants"] = found
    result: dict[str, dict[str, Any]] = seen["applicants"]
    return result


def score_in_ui(driver: Any, api: Api, record: dict[str, Any]) -> str:
    driver.get(api.url + "/ui/score")
    fill(driver, record)
    submit(driver, "form.application button[type=submit]")
    match = re.search(r"/ui/decisions/([^/#?]+)$", driver.current_url)
    assert match, driver.current_url
    return match.group(1)


def test_nothing_is_shown_without_signing_in(
    browser: Any, api: Api, axe_js: str, artifacts: Path
) -> None:
    for path in ("/ui/score", "/ui/queue", "/ui/lookup", "/ui/decisions/anything"):
        browser.get(api.url + path)
        assert "/ui/sign-in" in browser.current_url
        assert not all_css(browser, "form.application")
    sign_in(browser, api, "scoring", "Somebody")  # a scoring key is not a workbench key
    assert "not an officer, auditor or admin key" in by_css(browser, "#sign-in-error").text
    check_a11y(browser, axe_js, "sign-in")
    shot(browser, artifacts, "01-sign-in-refused")


def test_officer_fills_the_form_and_sees_the_decision_and_why(
    browser: Any, api: Api, axe_js: str, artifacts: Path
) -> None:
    sign_in(browser, api, "officer", "Olivia Officer")
    assert browser.current_url.endswith("/ui/score")
    check_a11y(browser, axe_js, "application form")
    # Invalid input: the messages sit next to their fields, nothing is scored.
    by_css(browser, "#f-duration_in_month").send_keys("500")
    submit(browser, "form.application button[type=submit]")
    assert by_css(browser, "#e-duration_in_month").text == "Must be at most 120"
    assert by_css(browser, "#f-duration_in_month").get_attribute("aria-invalid") == "true"
    assert by_css(browser, "#e-purpose").text == "Required"
    check_a11y(browser, axe_js, "form with errors")
    shot(browser, artifacts, "02-form-errors")

    people = applicants(api)
    decline_id = score_in_ui(browser, api, people["decline"])
    assert by_css(browser, "#decision-band").text.lower() == "decline"
    reasons = [li.text for li in all_css(browser, "#reasons li")]
    assert 1 <= len(reasons) <= 4 and all("points" in r for r in reasons)
    rows = all_css(browser, "#points-chart tbody tr")
    assert len(rows) == len(SCHEMA.features) + 2  # average applicant, features, score
    # What would change it: the suggestions were re-scored by the model.
    details = by_css(browser, "details#counterfactual")
    if details.get_attribute("open") is None:
        by_css(browser, "details#counterfactual summary").click()
    suggestions = all_css(browser, "details#counterfactual li.suggestion")
    assert suggestions, browser.page_source[:2000]
    assert all("Re-scored" in s.text for s in suggestions)
    immutable = [f.label for f in SCHEMA.features if f.name in SCHEMA.unchangeable]
    assert not any(label + ":" in s.text for s in suggestions for label in immutable)
    check_a11y(browser, axe_js, "decision page")
    shot(browser, artifacts, "03-decision-decline")
    seen["decline_id"] = decline_id
    seen["review_id"] = score_in_ui(browser, api, people["review"])
    assert by_css(browser, "#decision-band").text.lower() == "review"


def test_officer_overrides_a_review_case(
    browser: Any, api: Api, axe_js: str, artifacts: Path
) -> None:
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(api.url + "/ui/queue")
    check_a11y(browser, axe_js, "review queue")
    shot(browser, artifacts, "04-queue")
    case = seen["review_id"]
    links = [a for a in all_css(browser, "table.data a") if a.text == case]
    assert links, f"{case} not in the queue"
    old = by_css(browser, "html")
    links[0].click()
    WebDriverWait(browser, 30).until(expected_conditions.staleness_of(old))
    by_css(browser, "#review-form input[value=approve]").click()
    by_css(browser, "#reason").send_keys("Stable income verified with payslips")
    submit(browser, "#review-form button[type=submit]")
    assert by_css(browser, "#final-decision").text.lower().startswith("approve")
    assert "Olivia Officer" in by_css(browser, "#review-list").text
    shot(browser, artifacts, "05-reviewed")
    browser.get(api.url + "/ui/queue")
    assert case not in browser.page_source
    metrics = httpx.get(api.url + "/metrics", timeout=5).text
    assert re.search(r'credit_scoring_decision_overrides_total\{band="review",.*\} 1\.0', metrics)


def test_notice_of_a_decline_prints(browser: Any, api: Api, axe_js: str, artifacts: Path) -> None:
    browser.get(api.url + f"/ui/decisions/{seen['decline_id']}")
    submit(browser, "#notice-link")
    text = by_css(browser, "main").text
    assert "declined" in text and "Principal reasons" in text
    assert 1 <= len(all_css(browser, "ol.reasons li")) <= 4
    check_a11y(browser, axe_js, "notice")
    shot(browser, artifacts, "06-notice")
    pdf = base64.b64decode(browser.print_page())
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000
    (artifacts / "notice.pdf").write_bytes(pdf)


def test_auditor_looks_the_decision_up(
    browser: Any, api: Api, axe_js: str, artifacts: Path
) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(api.url + "/ui/lookup")  # the notice has no sign-out form: back to the workbench
    submit(browser, "form.who button")
    WebDriverWait(browser, 20).until(lambda d: d.current_url.endswith("/ui/sign-in"))
    assert not all_css(browser, "form.who")  # signed out
    sign_in(browser, api, "auditor", "Ada Auditor")
    assert browser.current_url.endswith("/ui/lookup")
    by_css(browser, "#decision_id").send_keys(seen["review_id"])
    submit(browser, "main form button")
    assert browser.current_url.endswith(f"/ui/decisions/{seen['review_id']}")
    assert "Stable income verified" in by_css(browser, "#review-list").text
    assert not all_css(browser, "#review-form")  # auditors read, officers review
    check_a11y(browser, axe_js, "auditor decision page")
    shot(browser, artifacts, "07-auditor-decision")
    browser.get(api.url + "/ui/score")
    assert "needs the officer role" in by_css(browser, "main").text


def test_docs_render_with_no_network(browser: Any, api: Api, artifacts: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("performance")  # drop what earlier pages requested
    browser.get(api.url + "/docs")
    WebDriverWait(browser, 30).until(lambda d: len(all_css(d, ".opblock")) >= 5)
    assert any("/v1/score" in el.text for el in all_css(browser, ".opblock"))
    shot(browser, artifacts, "08-docs")
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    outside = [u for u in urls if not u.startswith((api.url, "data:", "blob:", "about:"))]
    assert urls and not outside, outside
