"""Dialect A's top-level `approvals:` block: how approval requests are answered and announced.

    approvals:
      mode: inline | queue | hold                # default for require_approval rules (inline)
      wait: 5m                                   # hold: how long a held call waits for a human
      dedupe_window: 10m                         # identical pending requests share one approval
      review_url: https://gw.example.com/approvals   # the approvals page, linked in notifications
      notify:
        webhook:
          url: "https://..."                     # a signed POST per approval request/resolution
          format: json | slack                   # slack: a Slack-compatible message body
          secret_env: TOOLGATE_WEBHOOK_SECRET    # the variable holding the signing secret

Only parsed and validated here; the approvals layer acts on it. The webhook's signing secret is
not part of the policy file (secrets do not belong in a file that is reviewed and committed):
the file names the environment variable that holds it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from toolgate.policy.durations import DurationError, parse_duration
from toolgate.policy.model import Approvals
from toolgate.policy.schema import Fields

APPROVALS_KEYS = ("notify", "dedupe_window", "mode", "wait", "review_url")
NOTIFY_KEYS = ("webhook",)
WEBHOOK_KEYS = ("url", "format", "secret_env")
APPROVAL_MODES = ("inline", "queue", "hold")
WEBHOOK_FORMATS = ("json", "slack")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
DEFAULT_WAIT_SECONDS = 300.0
MAX_WAIT_SECONDS = 86400.0


def compile_approvals(top: Fields) -> Approvals | None:
    node = top.mapping("approvals")
    if node is None:
        return None
    fields = Fields(node, "approvals", top.issues, APPROVALS_KEYS)
    window = _duration(fields, "dedupe_window")
    wait = _duration(fields, "wait")
    if wait is not None and not 0 < wait <= MAX_WAIT_SECONDS:
        fields.error("wait", "wait must be more than 0s and at most 24h")
        wait = None
    mode = fields.choice("mode", APPROVAL_MODES, "inline") or "inline"
    review_url = _http_url(fields, "review_url", required=False)
    hook = _webhook(fields)
    approvals = Approvals(
        dedupe_window_seconds=window,
        mode=mode,
        wait_seconds=wait if wait is not None else DEFAULT_WAIT_SECONDS,
        review_url=review_url,
    )
    if hook is None:
        return approvals
    url, form, secret_env = hook
    return Approvals(
        webhook_url=url,
        dedupe_window_seconds=approvals.dedupe_window_seconds,
        mode=approvals.mode,
        wait_seconds=approvals.wait_seconds,
        webhook_format=form,
        webhook_secret_env=secret_env,
        review_url=review_url,
    )


def _duration(fields: Fields, key: str) -> float | None:
    text = fields.string(key)
    if text is None:
        return None
    try:
        return parse_duration(text)
    except DurationError as exc:
        fields.error(key, f"{key}: {exc}")
        return None


def _http_url(fields: Fields, key: str, *, required: bool) -> str | None:
    url = fields.string(key, required=required)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        fields.error(key, f'{key} must be an http:// or https:// address, got "{url}"')
        return None
    return url


def _webhook(fields: Fields) -> tuple[str, str, str] | None:
    notify = fields.mapping("notify")
    if notify is None:
        return None
    channels = Fields(notify, "approvals.notify", fields.issues, NOTIFY_KEYS)
    webhook = channels.mapping("webhook", required=True)
    if webhook is None:
        return None
    hook = Fields(webhook, "approvals.notify.webhook", fields.issues, WEBHOOK_KEYS)
    url = _http_url(hook, "url", required=True)
    form = hook.choice("format", WEBHOOK_FORMATS, "json")
    secret_env = hook.string("secret_env") or "TOOLGATE_WEBHOOK_SECRET"
    if ENV_NAME.fullmatch(secret_env) is None:
        hook.error(
            "secret_env", f'secret_env must be an environment variable name, got "{secret_env}"'
        )
        return None
    if url is None or form is None:
        return None
    return url, form, secret_env
