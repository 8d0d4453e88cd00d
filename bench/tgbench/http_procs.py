"""HTTP servers started for the benchmark: each prints its URL on stderr once it listens.

A `ServerProc` is one such process (the stub, a toolgate gateway, a fastmcp proxy): started in
its own process group, its URL read from its start-up line within a deadline, its RSS and CPU
read with psutil, stopped with SIGINT (so a profiled process can write its statistics) and, if
it lingers, killed with its group.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

import psutil  # type: ignore[import-untyped]

START_DEADLINE_S = 60.0
STOP_DEADLINE_S = 15.0
URL_LINE = re.compile(r"(?:serving \S+ at|serving at) (http://\S+)")


class StartError(Exception):
    """A server did not print its URL in time (or exited); carries the tail of its stderr."""


class ServerProc:
    def __init__(self, argv: Sequence[str], stderr_path: Path, env: dict[str, str]) -> None:
        self.argv = list(argv)
        self.stderr_path = stderr_path
        with stderr_path.open("wb") as sink:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                env=env,
                start_new_session=True,
            )
        self.ps = psutil.Process(self.proc.pid)
        self.url = ""
        self.excluded: set[int] = set()  # pids not counted in this process's tree (an upstream)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_tail(self, size: int = 1500) -> str:
        try:
            return self.stderr_path.read_text(encoding="utf-8", errors="replace")[-size:]
        except OSError:
            return ""

    def wait_url(self, deadline_s: float = START_DEADLINE_S) -> str:
        """Poll its stderr for the start-up line until `deadline_s` has passed."""
        deadline = time.monotonic() + deadline_s
        while True:
            found = URL_LINE.search(self.stderr_tail(100_000))
            if found is not None:
                self.url = found[1]
                return self.url
            if self.proc.poll() is not None:
                raise StartError(f"exited with {self.proc.returncode}: {self.stderr_tail()}")
            if time.monotonic() > deadline:
                raise StartError(f"no URL within {deadline_s:.0f} s: {self.stderr_tail()}")
            time.sleep(0.02)

    def tree(self) -> list[psutil.Process]:
        procs = [self.ps]
        with contextlib.suppress(psutil.Error):
            procs += [p for p in self.ps.children(recursive=True) if p.pid not in self.excluded]
        return procs

    def rss_bytes(self) -> int:
        """RSS of the process and its children (minus the excluded ones)."""
        total = 0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                total += int(proc.memory_info().rss)
        return total

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.tree():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += float(times.user + times.system)
        return total

    def stop(self, deadline_s: float = STOP_DEADLINE_S) -> int | None:
        """SIGINT, wait, then kill the group; the exit status if it exited by itself."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(deadline_s)
        clean = self.proc.poll()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(deadline_s)
        return clean


def start_all(
    named: Sequence[tuple[str, list[str]]], work: Path, env: dict[str, str]
) -> dict[str, ServerProc | str]:
    """Start every server at once, then wait for each URL; a failure is kept as its message."""
    started: dict[str, ServerProc | str] = {}
    for name, argv in named:
        try:
            started[name] = ServerProc(argv, work / f"{name}.stderr", env)
        except OSError as exc:
            started[name] = f"could not start {argv[0]}: {exc}"
    for name, proc in started.items():
        if isinstance(proc, ServerProc):
            try:
                proc.wait_url()
            except StartError as exc:
                proc.stop()
                started[name] = f"{name} did not start: {exc}"
    return started
