"""Grant tokens: minting, parsing and hashing the bearer tokens agents present.

A token reads `tg_<grant id>_<secret>`: the grant id (`gr_` and 12 hex digits) names the grant,
the secret is 43 characters of `secrets.token_urlsafe(32)` (256 random bits). Only the SHA-256
of the whole token is stored; the token itself is shown once, when it is minted.

Why a fast, unsalted hash is right here: salts and slow hashes (bcrypt, scrypt, argon2) exist to
make guessing low-entropy *passwords* from a stolen hash expensive. A 256-bit random secret
cannot be guessed however fast the hash is, so SHA-256 loses nothing, and it lets every request
be checked in microseconds instead of the tens of milliseconds a password hash would cost.

The grant id inside the token is public (it is a lookup key, like a username); the secret is
what proves possession, and it is compared by hash in constant time (`hashes_equal`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "tg_"  # noqa: S105 - a prefix, not a secret
GRANT_ID_PREFIX = "gr_"
SECRET_BYTES = 32
SECRET_CHARS = 43  # len(secrets.token_urlsafe(32)): 32 bytes in unpadded base64url
GRANT_ID_RE = re.compile(r"gr_[0-9a-f]{12}")
TOKEN_RE = re.compile(r"tg_(gr_[0-9a-f]{12})_([A-Za-z0-9_-]{43})")
TOKEN_CHARS = len(TOKEN_PREFIX) + len(GRANT_ID_PREFIX) + 12 + 1 + SECRET_CHARS


@dataclass(frozen=True, slots=True)
class ParsedToken:
    """A string shaped like a grant token: which grant it names (not yet proof of anything)."""

    grant_id: str
    secret: str


def new_grant_id() -> str:
    """A fresh grant id, `gr_` and 12 random hex digits."""
    return GRANT_ID_PREFIX + secrets.token_hex(6)


def is_grant_id(text: object) -> bool:
    return isinstance(text, str) and GRANT_ID_RE.fullmatch(text) is not None


def new_token(grant_id: str) -> str:
    """A fresh bearer token for `grant_id`, with a 256-bit random secret."""
    if not is_grant_id(grant_id):
        raise ValueError(f"not a grant id: {grant_id!r}")
    return f"{TOKEN_PREFIX}{grant_id}_{secrets.token_urlsafe(SECRET_BYTES)}"


def parse_token(text: object) -> ParsedToken | None:
    """The grant a token names, or None for anything that is not shaped like a token.

    Never raises: any object, any length, any characters yield a ParsedToken or None.
    """
    if not isinstance(text, str) or len(text) != TOKEN_CHARS or not text.isascii():
        return None
    match = TOKEN_RE.fullmatch(text)
    if match is None:
        return None
    return ParsedToken(grant_id=match.group(1), secret=match.group(2))


def token_hash(token: str) -> str:
    """What is stored for a token: the SHA-256 of the whole token, as 64 hex digits."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def hashes_equal(stored: str, presented: str) -> bool:
    """Compare two token hashes in time independent of where they first differ."""
    return hmac.compare_digest(
        stored.encode("ascii", "replace"), presented.encode("ascii", "replace")
    )
