"""`toolgate approvals serve` as a real process, driven by real headless Chromium (Debian's, via
Playwright): approve a pending call with a reason, see it in the store; agent text stays text;
off loopback, the admin token guards the API and the page."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Playwright, expect, sync_playwright

from tests.cli.test_approvals_cli import add, stored
from tests.conftest import free_port
from tests.e2e.support import WAIT, require
from toolgate.stores.approvals import ApprovalStatus
from toolgate.stores.approvals_sqlite import APPROVALS_DB_ENV

pytestmark = pytest.mark.e2e

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
APPROVER = "approver-e2e"
TOKEN = "e2e-admin-token-0123456789abcdef"
SCRIPT = "<script>document.title='pwned'</script>"


@contextmanager
def serving(tmp_path: Path, listen: str, token: str | None = None) -> Iterator[str]:
    """`toolgate approvals serve --listen LISTEN` over tmp_path/state; yields the loopback URL
    once it answers, and stops the process (bounded) after."""
    port = listen.rsplit(":", 1)[1]
    env = {
        k: v for k, v in os.environ.items() if k not in (APPROVALS_DB_ENV, "TOOLGATE_ADMIN_TOKEN")
    }
    env |= {"TOOLGATE_HOME": str(tmp_path / "home"), "USER": APPROVER}
    if token is not None:
        env["TOOLGATE_ADMIN_TOKEN"] = token
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "toolgate", "approvals", "serve", "--listen", listen]
    command += ["--state-dir", str(tmp_path / "state")]
    with log.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + WAIT
        while True:  # polling the server's start-up, bounded by the deadline
            try:
                httpx.get(url, timeout=1.0)
                break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"approvals serve did not start: {log.read_text()}")
            time.sleep(0.05)
        assert f"approvals page at http://{listen.rsplit(':', 1)[0]}:{port}/" in log.read_text()
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium(playwright: Playwright, tmp_path: Path) -> Iterator[BrowserContext]:
    executable = require(CHROMIUM, "Chromium (/usr/bin/chromium)")
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=executable, headless=True, args=FLAGS
    )
    try:
        yield context
    finally:
        context.close()


def test_approving_in_chromium_records_the_reason_and_approver_in_the_store(
    tmp_path: Path,
) -> None:
    db = tmp_path / "state" / "approvals.sqlite3"
    payment = add(db, tool="send_payment", arguments={"to": "acme", "amount": 250})
    hostile = add(db, tool="lookup", arguments={"q": SCRIPT})
    with (
        serving(tmp_path, f"127.0.0.1:{free_port()}") as url,
        sync_playwright() as playwright,
        chromium(playwright, tmp_path) as context,
    ):
        page = context.new_page()
        page.set_default_timeout(WAIT * 1000)
        page.goto(url)
        expect(page.locator("#pending")).to_contain_text("send_payment")
        page.get_by_role("link", name=payment.id).click()
        expect(page.locator("#arguments")).to_contain_text('"amount": 250')
        page.locator("#reason").fill("invoice 7 checked")
        page.screenshot(path=str(tmp_path / "approval-page.png"), full_page=True)
        page.locator("#approve").click()
        expect(page.locator("#status")).to_have_text("approved")
        expect(page.locator("#reason-text")).to_have_text("invoice 7 checked")
        assert page.url == f"{url}{payment.id}"

        page.goto(f"{url}{hostile.id}")
        expect(page.locator("#arguments")).to_contain_text(SCRIPT)
        assert page.locator("script").count() == 0
        assert page.title() != "pwned"
    decided = stored(db, payment.id)
    assert decided.status is ApprovalStatus.APPROVED
    assert (decided.reason, decided.resolved_by) == ("invoice 7 checked", APPROVER)
    assert stored(db, hostile.id).status is ApprovalStatus.PENDING
    assert (
        f"approved {payment.id} (tool send_payment) by {APPROVER}"
        in (tmp_path / "serve.log").read_text()
    )


def test_off_loopback_the_admin_token_guards_the_api_and_the_page(tmp_path: Path) -> None:
    db = tmp_path / "state" / "approvals.sqlite3"
    first = add(db, tool="send_payment", arguments={"to": "acme", "amount": 250})
    second = add(db, tool="send_payment", arguments={"to": "bolt", "amount": 900})
    with serving(tmp_path, f"0.0.0.0:{free_port()}", TOKEN) as url:
        anonymous = httpx.get(f"{url}api/approvals", timeout=WAIT)
        page = httpx.get(url, timeout=WAIT)
        bearer = {"authorization": f"Bearer {TOKEN}"}
        listed = httpx.get(f"{url}api/approvals", headers=bearer, timeout=WAIT)
        denied = httpx.post(
            f"{url}api/approvals/{second.id}/deny",
            json={"reason": "unknown payee", "by": "ops"},
            headers=bearer,
            timeout=WAIT,
        )
        with sync_playwright() as playwright, chromium(playwright, tmp_path) as context:
            browser = context.new_page()
            browser.set_default_timeout(WAIT * 1000)
            browser.goto(f"{url}{first.id}?token={TOKEN}")
            assert browser.url == f"{url}{first.id}"  # the token left the address bar
            browser.locator("#approve").click()
            expect(browser.locator("#status")).to_have_text("approved")
    assert (anonymous.status_code, page.status_code) == (401, 401)
    assert {a["id"] for a in listed.json()["approvals"]} == {first.id, second.id}
    assert denied.status_code == 200
    assert stored(db, second.id).reason == "unknown payee"
    assert stored(db, first.id).resolved_by == APPROVER
