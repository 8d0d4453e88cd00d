"""Dialect A's top-level `approvals:` block: where approval requests are announced, and dedupe.

    approvals:
      notify: {webhook: {url: "https://..."}}   # a signed POST per approval request
      dedupe_window: 10m                         # identical pending requests share one approval

Only parsed and validated here; the approvals layer acts on it. The webhook's signing secret is
not part of the policy file (secrets do not belong in a file that is reviewed and committed).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from toolgate.policy.durations import DurationError, parse_duration
from toolgate.policy.model import Approvals
from toolgate.policy.schema import Fields

APPROVALS_KEYS = ("notify", "dedupe_window")
NOTIFY_KEYS = ("webhook",)
WEBHOOK_KEYS = ("url",)


def compile_approvals(top: Fields) -> Approvals | None:
    node = top.mapping("approvals")
    if node is None:
        return None
    fields = Fields(node, "approvals", top.issues, APPROVALS_KEYS)
    window = None
    text = fields.string("dedupe_window")
    if text is not None:
        try:
            window = parse_duration(text)
        except DurationError as exc:
            fields.error("dedupe_window", f"dedupe_window: {exc}")
    return Approvals(_webhook_url(fields), window)


def _webhook_url(fields: Fields) -> str | None:
    notify = fields.mapping("notify")
    if notify is None:
        return None
    channels = Fields(notify, "approvals.notify", fields.issues, NOTIFY_KEYS)
    webhook = channels.mapping("webhook", required=True)
    if webhook is None:
        return None
    hook = Fields(webhook, "approvals.notify.webhook", fields.issues, WEBHOOK_KEYS)
    url = hook.string("url", required=True)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        hook.error("url", f'url must be an http:// or https:// address, got "{url}"')
        return None
    return url
