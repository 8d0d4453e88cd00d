"""Redaction: argument values reach the log only when asked for, and then never with a secret
in them: secret-like keys, configured paths and configured patterns are masked."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from tests.interceptors.rig import ListSink, Rig

from toolgate.app.settings import RunSettings, resolve_run_settings
from toolgate.audit.recorder import AuditRecorder
from toolgate.audit.redact import MASK, Redactor, redact_command, redact_url
from toolgate.audit.sink import JsonlAuditSink
from toolgate.clock import FakeClock
from toolgate.errors import ConfigError
from toolgate.interceptors.enforcement import EnforcementSettings, PolicyEnforcer
from toolgate.interceptors.policy_source import PolicySource
from toolgate.quota.ledger import Ledger
from toolgate.stores.memory import MemoryCounterStore

pytestmark = pytest.mark.anyio

PLANTED = {
    "query": "weather in Paris",
    "Password": "hunter2-planted",
    "auth": {"X-Api-Key": "ak-planted-1", "refreshToken": "rt-planted-2"},
    "headers": [{"Authorization": "Basic cGxhbnRlZA=="}, {"Cookie": "sid=planted-3"}],
    "card": {"number": "4000-1234-5678-9010", "holder": "A. Person"},
    "note": "pay with 4111111111111111 today",
    "pan": 4242424242424242,
    "key": "-----BEGIN RSA PRIVATE KEY-----\nMIIplanted4\n-----END RSA PRIVATE KEY-----",
    "header": "Bearer eyJplanted5",
}
SECRETS = (
    "hunter2-planted",
    "ak-planted-1",
    "rt-planted-2",
    "cGxhbnRlZA==",
    "planted-3",
    "4000-1234-5678-9010",
    "4111111111111111",
    "4242424242424242",
    "MIIplanted4",
    "eyJplanted5",
)


def redactor() -> Redactor:
    return Redactor.build(["args.card.number"], [r"\b\d{16}\b"])


def test_secret_like_keys_are_masked_at_any_depth_whatever_their_case() -> None:
    out = Redactor.build().arguments(PLANTED)
    assert out["Password"] == MASK
    assert out["auth"] == {"X-Api-Key": MASK, "refreshToken": MASK}
    assert out["headers"] == [{"Authorization": MASK}, {"Cookie": MASK}]
    assert out["query"] == "weather in Paris"


def test_a_path_rule_masks_the_value_at_that_path_and_a_wildcard_matches_any_key_or_index() -> None:
    out = redactor().arguments(PLANTED)
    assert out["card"] == {"number": MASK, "holder": "A. Person"}
    listed = Redactor.build(["args.items.*.iban"]).arguments({"items": [{"iban": "DE89"}, {}]})
    assert listed == {"items": [{"iban": MASK}, {}]}


def test_a_pattern_rule_masks_matches_inside_strings_and_whole_numbers_that_match() -> None:
    out = redactor().arguments(PLANTED)
    assert out["note"] == f"pay with {MASK} today"
    assert out["pan"] == MASK


def test_private_keys_and_bearer_tokens_are_masked_by_default_whatever_their_key() -> None:
    out = Redactor.build().arguments(PLANTED)
    assert "MIIplanted4" not in out["key"] and "eyJplanted5" not in out["header"]


def test_redaction_works_on_a_copy_and_leaves_the_call_unchanged() -> None:
    before = orjson.dumps(PLANTED)
    redactor().arguments(PLANTED)
    assert orjson.dumps(PLANTED) == before


def test_a_malformed_rule_is_a_config_error_naming_its_flag() -> None:
    with pytest.raises(ConfigError, match="--audit-redact-pattern"):
        Redactor.build(patterns=["(unclosed"])
    with pytest.raises(ConfigError, match="--audit-redact-path"):
        Redactor.build(paths=["args..x"])


def test_passwords_in_urls_and_secret_flags_in_a_server_command_are_masked() -> None:
    assert redact_url("redis://:pw@h:6379/0") == "redis://***@h:6379/0"
    assert redact_url("see redis://user:pw@h/1 now") == "see redis://user:***@h/1 now"
    assert redact_url("sqlite:///tmp/x.db") == "sqlite:///tmp/x.db"
    command = ["srv", "--api-key", "k1", "--token=k2", "--db", "postgres://u:k3@h/db", "-v"]
    assert redact_command(command) == [
        "srv",
        "--api-key",
        MASK,
        f"--token={MASK}",
        "--db",
        "postgres://u:***@h/db",
        "-v",
    ]


async def log_one_call(tmp_path: Path, redactor: Redactor | None) -> bytes:
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: "1"\ndefault: allow\ntools: {}\n')
    clock = FakeClock()
    log = tmp_path / "audit.jsonl"
    recorder = AuditRecorder(JsonlAuditSink(log), clock, redactor=redactor)
    enforcer = PolicyEnforcer(
        PolicySource(policy),
        Ledger(MemoryCounterStore(clock), "test", clock),
        recorder,
        clock,
        EnforcementSettings(salt=b"s" * 32),
    )
    checked = Rig(enforcer, ListSink())  # the events go to the file, not to this list
    await checked.call("search", PLANTED)  # forwarded; written as no_response at shutdown
    await recorder.stopped(0)
    await recorder.aclose()
    return log.read_bytes()


async def test_with_include_args_values_are_logged_but_no_planted_secret_reaches_the_file(
    tmp_path: Path,
) -> None:
    written = await log_one_call(tmp_path, redactor())
    assert b"weather in Paris" in written and b"A. Person" in written
    for secret in SECRETS:
        assert secret.encode() not in written, secret


async def test_without_include_args_no_argument_value_reaches_the_file(tmp_path: Path) -> None:
    written = await log_one_call(tmp_path, None)
    assert b"weather in Paris" not in written and b'"args"' not in written
    event = orjson.loads(written.splitlines()[0])
    assert event["arg_keys"] == sorted(PLANTED)


def test_the_redaction_flags_travel_to_the_gateway_process_and_a_bad_one_stops_the_run(
    tmp_path: Path,
) -> None:
    settings = resolve_run_settings(
        tmp_path / "p.yaml",
        ["srv"],
        state_dir=tmp_path,
        audit_log=None,
        max_line=None,
        namespace=None,
        store_url=None,
        audit_include_args=True,
        audit_redact_paths=["args.card.number"],
        audit_redact_patterns=[r"\b\d{16}\b"],
    )
    assert RunSettings.from_json(settings.to_json()) == settings
    assert settings.audit_include_args and settings.audit_redact_paths == ("args.card.number",)
    with pytest.raises(ConfigError, match="--audit-redact-pattern"):
        resolve_run_settings(
            tmp_path / "p.yaml",
            ["srv"],
            state_dir=tmp_path,
            audit_log=None,
            max_line=None,
            namespace=None,
            store_url=None,
            audit_redact_patterns=["[a-"],
        )
