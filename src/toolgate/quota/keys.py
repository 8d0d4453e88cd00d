"""Counter identity: how a CounterRef in a namespace becomes a storage key and a window bucket.

The key is a JSON array of every part, ASCII-only. JSON quotes and escapes each string, so no
tool name, counter name, identity or argument value (whatever separators, quotes or brackets it
contains) can spell another counter's key, and an absent part (`null`) never equals the string
"null". ASCII keeps the key valid in every backend even for lone surrogates from JSON input.
"""

from __future__ import annotations

import json
from functools import lru_cache

from toolgate.policy.decision import CounterRef
from toolgate.stores.base import BucketKey

# Distinct (namespace, counter) pairs whose encoded key is remembered: encoding costs more than
# the whole in-memory reservation, and a gateway touches few counters over and over.
KEY_CACHE_SIZE = 4096


@lru_cache(maxsize=KEY_CACHE_SIZE)
def storage_key(namespace: str, ref: CounterRef) -> str:
    """The opaque, unforgeable storage key of `ref` in `namespace` (the same in every window).

    The window's length is part of the key: a counter redefined from `hour` to `day` is a new
    counter, not the old one read through a different window.
    """
    parts = [
        namespace,
        ref.owner,
        ref.name,
        ref.window.seconds,
        ref.scope,
        ref.scope_value,
        ref.key_value,
    ]
    # Appended only when used, so the keys of plain counters stay what they always were.
    if ref.key_path is not None:
        parts.append(ref.key_path)  # a counter re-keyed on another argument starts afresh
    if ref.window.sliding:
        parts.append("sliding")
    return json.dumps(parts, ensure_ascii=True, separators=(",", ":"))


def bucket_key(namespace: str, ref: CounterRef, now: float) -> BucketKey:
    """The bucket holding `ref`'s count at `now`: its fixed window, or its sliding slice."""
    window = ref.window
    key = storage_key(namespace, ref)
    return BucketKey(key, window.start(now), window.bucket_seconds, window.history)
