"""A tiny scripted stdio MCP-shaped server for the StdioUpstream tests (run as a child process).

Every request is answered with `{"method", "seen_id", "who"}` (the id exactly as it arrived), after
a progress notification when the request carries a progress token. Special methods:

- `hold`: not answered until a `release` comes; `release` (params `expect`: how many held
  requests to wait for) answers every held request in reverse order, then itself;
- `chatty`: a `notifications/message` about the request precedes its answer;
- `listen`: a notification naming the request as its subscription precedes the answer;
- `exit`: the process exits at once (status 3) without answering.

Notifications: `notifications/poke` makes the server send a log notification of its own,
`notifications/garbage` a line that is not JSON, `notifications/stray` a response to an id
nobody asked with. Other notifications are remembered and listed in the next answer.
"""

from __future__ import annotations

import json
import sys
from typing import Any

SUBSCRIPTION_KEY = "io.modelcontextprotocol/subscriptionId"


def emit(message: dict[str, Any] | str) -> None:
    text = message if isinstance(message, str) else json.dumps(message)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def notification(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params}


class Server:
    def __init__(self) -> None:
        self.held: list[dict[str, Any]] = []
        self.release: dict[str, Any] | None = None
        self.notes: list[str] = []

    def handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if "id" not in message:
            self.one_way(str(method))
            return
        if method == "exit":
            sys.exit(3)
        if method == "hold":
            self.held.append(message)
        elif method == "release":
            self.release = message
        else:
            self.answer(message)
        self.maybe_release()

    def one_way(self, method: str) -> None:
        if method == "notifications/poke":
            emit(notification("notifications/message", {"level": "info", "data": "poked"}))
        elif method == "notifications/garbage":
            emit("this line is not JSON")
        elif method == "notifications/stray":
            emit({"jsonrpc": "2.0", "id": "nobody-asked", "result": {}})
        else:
            self.notes.append(method)

    def maybe_release(self) -> None:
        if self.release is None:
            return
        params = self.release.get("params") or {}
        if len(self.held) < int(params.get("expect", 0)):
            return
        for held in reversed(self.held):
            self.answer(held)
        self.held.clear()
        self.answer(self.release)
        self.release = None

    def answer(self, message: dict[str, Any]) -> None:
        params = message.get("params") or {}
        meta = params.get("_meta") or {}
        who = params.get("who")
        if "progressToken" in meta:
            progress = {"progressToken": meta["progressToken"], "progress": 1, "message": who}
            emit(notification("notifications/progress", progress))
        if message.get("method") == "chatty":
            emit(notification("notifications/message", {"level": "info", "data": who}))
        if message.get("method") == "listen":
            emit(notification("notifications/tick", {"_meta": {SUBSCRIPTION_KEY: message["id"]}}))
        result = {"method": message.get("method"), "seen_id": message["id"], "who": who}
        result["notes"], self.notes = self.notes, []
        emit({"jsonrpc": "2.0", "id": message["id"], "result": result})


def main() -> None:
    server = Server()
    for line in sys.stdin:
        if line.strip():
            server.handle(json.loads(line))


if __name__ == "__main__":
    main()
