"""`toolgate init`'s review page end to end in real headless Chromium (Debian's, via Playwright):
scan a real server, load the page, move a tool to Deny, save, and see the policy file change."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from playwright.sync_api import expect, sync_playwright

from tests.e2e.support import WAIT, demo_server, require
from toolgate.catalog.classify import classify_tool
from toolgate.catalog.scan import scan_server
from toolgate.catalog.scan_report import classify_all
from toolgate.policy.loader import load_policy
from toolgate.policy.model import Action
from toolgate.web.app import ServerReview, create_app, new_token
from toolgate.web.serve import RunningPage, start_page

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOOL = "get_price"


@pytest.fixture
def review(tmp_path: Path) -> ServerReview:
    result = anyio.run(scan_server, demo_server(), WAIT)
    tools = classify_all(result, classify_tool)
    return ServerReview("demo exchange", "exchange", tools, tmp_path / "policies" / "exchange.yaml")


@pytest.fixture
def page_url(review: ServerReview) -> Iterator[str]:
    token = new_token()
    running: RunningPage = start_page(create_app([review], token), token)
    try:
        yield running.url
    finally:
        running.stop()


def test_moving_a_tool_to_deny_in_chromium_and_saving_writes_a_policy_that_denies_it(
    review: ServerReview, page_url: str, tmp_path: Path
) -> None:
    executable = require(CHROMIUM, "Chromium (/usr/bin/chromium)")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=executable,
            headless=True,
            args=FLAGS,
        )
        try:
            page = context.new_page()
            page.set_default_timeout(WAIT * 1000)
            page.goto(page_url)
            page.get_by_role("link", name="demo exchange").click()
            card = page.locator(f'.tool[data-tool="{TOOL}"]')
            expect(page.locator("#col-allow").locator(card)).to_have_count(1)
            card.locator("select").select_option("deny")
            expect(page.locator("#col-deny").locator(f'.tool[data-tool="{TOOL}"]')).to_have_count(1)
            page.screenshot(path=str(tmp_path / "review-page.png"), full_page=True)
            page.locator("#save").click()
            expect(page.locator("#saved")).to_contain_text(str(review.policy_path))
        finally:
            context.close()
    policy = load_policy(review.policy_path)
    assert [rule.action for rule in policy.tools[TOOL]] == [Action.DENY]
    checked = subprocess.run(
        [sys.executable, "-m", "toolgate", "validate", "-c", str(review.policy_path)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("valid:")
    assert (tmp_path / "review-page.png").stat().st_size > 0
