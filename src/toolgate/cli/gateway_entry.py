"""The lean process `toolgate run` becomes: runs the gateway from resolved settings.

`toolgate run` parses its flags with the full command-line toolkit, then replaces itself (exec,
same process id, so signals and exit codes are the caller's) with this module, which imports only
what the gateway needs: the gateway then holds about 8 MiB less than a process that also carries
the command-line toolkit for its whole life.
"""

from __future__ import annotations

import logging
import os
import sys

from toolgate.app.run import run_gateway
from toolgate.app.settings import SETTINGS_ENV, RunSettings
from toolgate.errors import PolicyValidationError, ToolgateError

EXIT_USAGE = 2


def main(argv: list[str]) -> int:
    text = os.environ.pop(SETTINGS_ENV, "")  # never handed on to the server
    try:
        settings = RunSettings.from_json(text)
    except ToolgateError as exc:
        print(f"toolgate: {exc}", file=sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=settings.log_level.upper(),
        stream=sys.stderr,
        format="toolgate: %(levelname)s: %(message)s",
    )
    try:
        return run_gateway(settings)
    except PolicyValidationError as exc:
        for error in exc.errors:
            print(error.render(), file=sys.stderr)
        message = f"toolgate: policy {settings.policy} is invalid; nothing was started"
        print(message, file=sys.stderr)
    except ToolgateError as exc:
        print(f"toolgate: {exc}", file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main(sys.argv))
