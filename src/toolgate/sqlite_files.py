"""Telling, before SQLite opens a path, whether the file there could be an SQLite database.

Opening a non-database file with SQLite can rewrite its header; every toolgate database (counters,
audit) refuses such a file with a clear message instead and leaves it byte for byte as it was.
"""

from __future__ import annotations

from pathlib import Path

SQLITE_HEADER = b"SQLite format 3\x00"


def non_database_problem(path: Path, what: str) -> str | None:
    """Why `path` must not be opened as `what` (e.g. "counter store"), or None when it may be:
    it does not exist yet, is empty, or starts with the SQLite header."""
    if path.is_dir():
        return f"{what} {path} is a directory, not a database file"
    if not path.exists():
        return None
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{what} {path} cannot be read: {exc.strerror}"
    if header and header != SQLITE_HEADER:
        return f"{what} {path} is not an SQLite database; refusing to use or overwrite it"
    return None


def ownership_problem(
    path: Path, what: str, found: tuple[int, int, int], expected_id: int, newest: int
) -> str | None:
    """Why an open database must not be used as `what`, or None when it is ours (or empty).

    `found` is (application_id, user_version, number of schema objects) as the file reports them;
    `expected_id` is the application id toolgate stamps on this kind of database and `newest` the
    highest schema version this build understands.
    """
    app_id, version, objects = found
    if app_id == 0:
        if objects:
            return (
                f"{what} {path} is an SQLite database of another application; refusing to modify it"
            )
        return None
    if app_id != expected_id:
        return (
            f"{what} {path} belongs to another application "
            f"(application_id {app_id:#x}); refusing to modify it"
        )
    if version > newest:
        return (
            f"{what} {path} has schema version {version}, newer than this build "
            f"supports ({newest}); upgrade toolgate"
        )
    return None
