"""`toolgate run` as a process: start failures, exit codes, stderr and signals."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import anyio
import pytest
from tests.e2e.support import WAIT, raw_client, toolgate

from toolgate.app.settings import SETTINGS_ENV

pytestmark = pytest.mark.anyio

EMPTY_POLICY = 'version: "1"\ntools: {}\n'


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(EMPTY_POLICY)
    return path


async def run(command: list[str]) -> tuple[int, str, str]:
    with anyio.fail_after(WAIT):
        done = await anyio.run_process(command, check=False, stdin=None)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


async def test_a_server_that_cannot_start_gives_one_line_naming_the_command(
    policy: Path, tmp_path: Path
) -> None:
    code, out, err = await run(toolgate(policy, ["/no/such/server", "--flag"], tmp_path))
    assert code != 0
    assert out == ""
    assert err.strip().count("\n") == 0
    assert "/no/such/server --flag" in err
    assert "No such file or directory" in err


async def test_toolgate_exits_with_the_servers_exit_code(policy: Path, tmp_path: Path) -> None:
    server = [
        sys.executable,
        "-c",
        "import sys; sys.stderr.write('server says hi\\n'); sys.exit(7)",
    ]
    code, _, err = await run(toolgate(policy, server, tmp_path))
    assert code == 7
    assert "server says hi" in err


async def test_a_missing_server_command_is_a_clear_usage_error(policy: Path) -> None:
    code, _, err = await run([sys.executable, "-m", "toolgate", "run", "-c", str(policy)])
    assert code == 2
    assert "no upstream server" in err


async def test_an_invalid_policy_stops_run_before_the_server_starts(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text('version: "2"\ntools: {}\n')
    marker = tmp_path / "started"
    server = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    code, _, err = await run(toolgate(bad, server, tmp_path))
    assert code == 2
    assert f"{bad}:" in err
    assert not marker.exists()


@pytest.mark.parametrize(
    "flags",
    [["--log-level", "loud"], ["--max-line-bytes", "10"], ["--max-line-bytes", "many"]],
)
async def test_bad_flags_are_rejected_with_a_message(
    policy: Path, tmp_path: Path, flags: list[str]
) -> None:
    code, _, err = await run(toolgate(policy, [sys.executable, "-c", "pass"], tmp_path, *flags))
    assert code == 2
    assert err.strip()


SIGNAL_SERVER = """
import signal, sys
def bye(signum, frame):
    sys.stderr.write(f"got signal {signum}\\n"); sys.stderr.flush(); sys.exit(42)
signal.signal(signal.SIGTERM, bye)
sys.stdout.write('{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"ready"}}\\n')
sys.stdout.flush()
signal.pause()
"""


async def test_signals_are_forwarded_to_the_server(policy: Path, tmp_path: Path) -> None:
    command = toolgate(policy, [sys.executable, "-c", SIGNAL_SERVER], tmp_path)
    async with raw_client(command) as client:
        assert b"ready" in await client.read_line()
        client.process.send_signal(signal.SIGTERM)
        with anyio.fail_after(WAIT):
            assert await client.process.wait() == 42


async def test_the_gateway_entry_refuses_garbage_settings_with_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(SETTINGS_ENV, "{not settings")
    command = [sys.executable, "-m", "toolgate.cli.gateway_entry"]
    code, out, err = await run(command)
    assert code == 2
    assert out == ""
    assert err.startswith("toolgate: unreadable gateway settings")
    assert err.count("\n") == 1


LEAK_PROBE_SERVER = """
import os, sys
inherited = "TOOLGATE_GATEWAY_SETTINGS" in os.environ
note = '{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"%s"}}'
sys.stdout.write(note % inherited + "\\n")
sys.stdout.flush()
sys.stdin.read()
"""


async def test_the_settings_never_show_on_the_command_line_nor_reach_the_server(
    policy: Path, tmp_path: Path
) -> None:
    secret = "redis://:hunter2@127.0.0.1:1/0"
    command = toolgate(
        policy, [sys.executable, "-c", LEAK_PROBE_SERVER], tmp_path, "--counter-store", secret
    )
    async with raw_client(command) as client:
        line = await client.read_line()
        cmdline = await anyio.Path(f"/proc/{client.process.pid}/cmdline").read_bytes()
    assert b"hunter2" not in cmdline  # what `ps` shows of the gateway process after the hand-over
    assert b'"data":"False"' in line  # the server did not inherit the settings variable
