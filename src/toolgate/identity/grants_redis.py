"""RedisGrantStore: grants in Redis, so every replica of a gateway fleet sees every grant, and a
revoke made anywhere is refused everywhere on the very next request.

The management API (`create`, `get`, `list`, `revoke`, `rotate`, `verify`, `lookup`, `close`)
is the SQLite `GrantStore`'s, synchronous, on redis-py's blocking client: `toolgate grants …`
is a synchronous command. The gateway's hot path is `averify`, on the asyncio client: one
HGETALL per verification (no cache), so the event loop never blocks and nothing can be stale.

Every mutation is ONE Lua script, atomic in Redis: `create` (label uniqueness among
non-revoked grants per server; an expired holder gives its label up, revoked at that moment, as
in SQLite), `revoke`, and `rotate` (the old grant revoked and the new one inserted together).
Scripts are loaded on first use and again when Redis answers NOSCRIPT (a restart, a failover,
SCRIPT FLUSH), so a store object survives them.

Keys, under `prefix` (default "toolgate:"; the gateway uses its `state.prefix` and ":"):

    grant:<id>                     hash: id, server, label, attributes (JSON), created,
                                   token_hash (SHA-256 of the token, never the token), member;
                                   when set: policy, expires, revoked, rotated_to. Times are
                                   epoch seconds as Python float reprs
    grants:label:<server>:<label>  string: the id of the non-revoked grant holding the label
                                   (server names have no ":", so the key is unambiguous)
    grants:index                   sorted set of every grant, scored by `created`; members are
                                   "<16-digit sequence>:<id>" so equal times keep their order
                                   (`list`, oldest first)
    grants:seq                     the sequence counter

Grants never expire from Redis: revoked and expired ones stay listed, as in SQLite.

Failures: any Redis error becomes StoreError naming the server with its password masked; the
authenticator then answers 503 (fail closed: a revoke might be missed). Sockets connect and
read with a bounded timeout (`DEFAULT_TIMEOUT`) and are never retried, so a dead Redis costs a
request at most that long. Standalone Redis or a primary only (not Redis Cluster): the scripts
reach keys they derive from the prefix.
"""

from __future__ import annotations

import builtins
import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
import redis.asyncio
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from toolgate.clock import Clock, SystemClock
from toolgate.errors import ConfigError, StoreError
from toolgate.identity.grant_rules import (
    ID_ATTEMPTS,
    Grant,
    TokenProblem,
    already_revoked,
    cannot_rotate_expired,
    check_grant_id,
    check_new_grant,
    check_revoke_target,
    decode_attributes,
    encode_attributes,
    judge,
    label_taken,
    no_live_label,
    no_such_grant,
)
from toolgate.identity.tokens import is_grant_id, new_grant_id, new_token, parse_token, token_hash
from toolgate.stores.redis_url import (
    check_url,
    describe_connection,
    password_of,
    redact,
    reply_fields,
    reply_text,
)

DEFAULT_PREFIX = "toolgate:"
DEFAULT_TIMEOUT = 2.0  # seconds, for connecting and for each reply

COMMON_LUA = r"""
local P = ARGV[1]
local NOW = ARGV[2]
local INDEX = P .. 'grants:index'

local function gkey(id) return P .. 'grant:' .. id end
local function lkey(server, label) return P .. 'grants:label:' .. server .. ':' .. label end

-- the id of the non-revoked grant holding a label, or nil (a stale pointer is dropped)
local function holder(server, label)
  local L = lkey(server, label)
  local id = redis.call('GET', L)
  if not id then return nil end
  local h = gkey(id)
  if redis.call('EXISTS', h) == 0 or redis.call('HEXISTS', h, 'revoked') == 1 then
    redis.call('DEL', L)
    return nil
  end
  return id
end

local function expired(h)
  local e = redis.call('HGET', h, 'expires')
  return e and tonumber(e) <= tonumber(NOW)
end

-- mark a grant revoked and free its label
local function retire(id)
  local h = gkey(id)
  redis.call('HSET', h, 'revoked', NOW)
  local L = lkey(redis.call('HGET', h, 'server'), redis.call('HGET', h, 'label'))
  if redis.call('GET', L) == id then redis.call('DEL', L) end
end

-- store a new grant: id, server, label, attributes, token hash, policy, expires ('' for none)
local function insert(id, server, label, attributes, hash, policy, expires)
  local h = gkey(id)
  local member = string.format('%016d:%s', redis.call('INCR', P .. 'grants:seq'), id)
  redis.call('HSET', h, 'id', id, 'server', server, 'label', label, 'attributes', attributes,
    'created', NOW, 'token_hash', hash, 'member', member)
  if policy and policy ~= '' then redis.call('HSET', h, 'policy', policy) end
  if expires and expires ~= '' then redis.call('HSET', h, 'expires', expires) end
  redis.call('SET', lkey(server, label), id)
  redis.call('ZADD', INDEX, NOW, member)
  return redis.call('HGETALL', h)
end
"""

# ARGV: prefix, now, server, label, new id, token hash, policy, attributes, expires.
# Returns {'ok', hash}, {'taken', holder id} or {'clash'} (the new id exists).
CREATE_LUA = (
    COMMON_LUA
    + r"""
local server, label, id = ARGV[3], ARGV[4], ARGV[5]
local held = holder(server, label)
if held and expired(gkey(held)) then
  retire(held)
  held = nil
end
if held then return {'taken', held} end
if redis.call('EXISTS', gkey(id)) == 1 then return {'clash'} end
return {'ok', insert(id, server, label, ARGV[8], ARGV[6], ARGV[7], ARGV[9])}
"""
)

# ARGV: prefix, now, id ('' to name it by server and label), server, label.
# Returns {'ok', hash}, {'missing'}, {'revoked'} or {'nolabel'}.
REVOKE_LUA = (
    COMMON_LUA
    + r"""
local id = ARGV[3]
if id == '' then
  id = holder(ARGV[4], ARGV[5])
  if not id then return {'nolabel'} end
else
  local h = gkey(id)
  if redis.call('EXISTS', h) == 0 then return {'missing'} end
  if redis.call('HEXISTS', h, 'revoked') == 1 then return {'revoked'} end
end
retire(id)
return {'ok', redis.call('HGETALL', gkey(id))}
"""
)

# ARGV: prefix, now, old id, new id, new token hash.
# Returns {'ok', new hash}, {'missing'}, {'revoked'}, {'expired'} or {'clash'}.
ROTATE_LUA = (
    COMMON_LUA
    + r"""
local old, new = ARGV[3], ARGV[4]
local oh = gkey(old)
if redis.call('EXISTS', oh) == 0 then return {'missing'} end
if redis.call('HEXISTS', oh, 'revoked') == 1 then return {'revoked'} end
if expired(oh) then return {'expired'} end
if redis.call('EXISTS', gkey(new)) == 1 then return {'clash'} end
local f = redis.call('HMGET', oh, 'server', 'label', 'attributes', 'policy', 'expires')
retire(old)
redis.call('HSET', oh, 'rotated_to', new)
return {'ok', insert(new, f[1], f[2], f[3], ARGV[5], f[4], f[5])}
"""
)

# ARGV: prefix, now, server ('' for every server), '1' to include revoked grants.
# Returns the hashes, oldest first.
LIST_LUA = (
    COMMON_LUA
    + r"""
local out = {}
for _, member in ipairs(redis.call('ZRANGE', INDEX, 0, -1)) do
  local h = gkey(string.sub(member, 18))
  local f = redis.call('HMGET', h, 'server', 'revoked')
  if f[1] and (ARGV[3] == '' or f[1] == ARGV[3]) and (ARGV[4] == '1' or not f[2]) then
    out[#out + 1] = redis.call('HGETALL', h)
  end
end
return out
"""
)


class _Script:
    """A Lua script run by SHA; loaded on NOSCRIPT (first use, or after a flush or restart)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    def run(self, client: redis.Redis, args: Sequence[str]) -> Any:
        try:
            return client.evalsha(self.sha, 0, *args)
        except NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, 0, *args)


_CREATE = _Script(CREATE_LUA)
_REVOKE = _Script(REVOKE_LUA)
_ROTATE = _Script(ROTATE_LUA)
_LIST = _Script(LIST_LUA)


class RedisGrantStore:
    """Grants in Redis. It takes over both clients (made with `decode_responses=True`): `close`
    closes the blocking one, `aclose` both."""

    def __init__(
        self,
        client: redis.Redis,
        aclient: redis.asyncio.Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(prefix, str) or not prefix or prefix != prefix.strip():
            raise ConfigError(f"the Redis key prefix must be non-empty text, got {prefix!r}")
        self._client = client
        self._aclient = aclient
        self._prefix = prefix
        self._clock: Clock = clock or SystemClock()
        self._shown, self._password = describe_connection(client.connection_pool.connection_kwargs)
        self._closed = False

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Clock | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> RedisGrantStore:
        """A store on new clients for the DSN `url` (ConfigError when it is not one). Nothing
        connects until the first call."""
        check_url(url)
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "health_check_interval": 0,
            "decode_responses": True,
        }
        client = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        aclient = redis.asyncio.Redis.from_url(url, retry=AsyncRetry(NoBackoff(), 0), **options)
        store = cls(client, aclient, prefix=prefix, clock=clock)
        store._shown = redact(url)
        store._password = password_of(url) or store._password
        return store

    @property
    def url(self) -> str:
        """Where the store is, password masked: the only form ever shown."""
        return self._shown

    @property
    def where(self) -> str:
        return f'{self._shown} (key prefix "{self._prefix}")'

    def create(
        self,
        server: str,
        label: str,
        policy: Path | None = None,
        attributes: Mapping[str, str] | None = None,
        expires: float | None = None,
    ) -> tuple[Grant, str]:
        """See GrantStore.create: the label check and the insert are one script."""
        now = self._clock.now()
        attrs = check_new_grant(server, label, policy, attributes, expires, now)
        tail = [
            "" if policy is None else str(policy),
            encode_attributes(attrs),
            "" if expires is None else repr(float(expires)),
        ]
        for _ in range(ID_ATTEMPTS):
            grant_id = new_grant_id()
            token = new_token(grant_id)
            args = [server, label, grant_id, token_hash(token), *tail]
            reply = self._call(_CREATE, now, args)
            outcome = reply_text(reply[0])
            if outcome == "taken":
                raise label_taken(server, label, reply_text(reply[1]))
            if outcome == "ok":
                return self._grant(reply[1])[1], token
        raise StoreError(f"grant store {self.where}: no free grant id after {ID_ATTEMPTS} attempts")

    def get(self, grant_id: str) -> Grant | None:
        if not is_grant_id(grant_id):
            return None
        fields = self._do(lambda: self._client.hgetall(self._key(grant_id)))
        return self._grant(fields)[1] if fields else None

    def list(
        self, server: str | None = None, include_revoked: bool = False
    ) -> builtins.list[Grant]:
        """Grants, oldest first: every server's or one's, revoked ones only when asked for."""
        args = ["" if server is None else server, "1" if include_revoked else "0"]
        replies = self._call(_LIST, self._clock.now(), args)
        return [self._grant(reply)[1] for reply in replies]

    def revoke(
        self, grant_id: str | None = None, *, server: str | None = None, label: str | None = None
    ) -> Grant:
        """See GrantStore.revoke."""
        check_revoke_target(grant_id, server, label)
        if grant_id is not None:
            check_grant_id(grant_id)
        args = [grant_id or "", server or "", label or ""]
        reply = self._call(_REVOKE, self._clock.now(), args)
        outcome = reply_text(reply[0])
        if outcome == "missing":
            raise no_such_grant(str(grant_id), self.where)
        if outcome == "revoked":
            raise already_revoked(str(grant_id))
        if outcome == "nolabel":
            raise no_live_label(server, label, self.where)
        return self._grant(reply[1])[1]

    def rotate(self, grant_id: str) -> tuple[Grant, str]:
        """See GrantStore.rotate: revoking the old grant and storing the new one is one script."""
        check_grant_id(grant_id)
        now = self._clock.now()
        for _ in range(ID_ATTEMPTS):
            new_id = new_grant_id()
            token = new_token(new_id)
            reply = self._call(_ROTATE, now, [grant_id, new_id, token_hash(token)])
            outcome = reply_text(reply[0])
            if outcome == "missing":
                raise no_such_grant(grant_id, self.where)
            if outcome == "revoked":
                raise already_revoked(grant_id)
            if outcome == "expired":
                raise cannot_rotate_expired(grant_id)
            if outcome == "ok":
                return self._grant(reply[1])[1], token
        raise StoreError(f"grant store {self.where}: no free grant id after {ID_ATTEMPTS} attempts")

    def verify(self, token: str, now: float | None = None) -> Grant | TokenProblem:
        """See GrantStore.verify: one HGETALL, on the blocking client."""
        parsed = parse_token(token)
        if parsed is None:
            return "malformed"
        key = self._key(parsed.grant_id)
        fields = self._do(lambda: self._client.hgetall(key))
        return self._judge(fields, token, self._clock.now() if now is None else now)

    async def averify(self, token: str, now: float) -> Grant | TokenProblem:
        """`verify` on the asyncio client: one round trip, never blocking the event loop."""
        parsed = parse_token(token)
        if parsed is None:
            return "malformed"
        self._check_open()
        try:
            fields = await self._aclient.hgetall(self._key(parsed.grant_id))
        except (RedisError, OSError) as exc:
            raise self._failure(exc) from None
        return self._judge(fields, token, now)

    def lookup(self, token: str) -> Grant | None:
        """The grant `token` authenticates right now, or None."""
        found = self.verify(token)
        return found if isinstance(found, Grant) else None

    def close(self) -> None:
        """Close the blocking client (`aclose` from async code closes the asyncio one too)."""
        if not self._closed:
            self._closed = True
            self._client.close()

    async def aclose(self) -> None:
        self.close()
        await self._aclient.aclose()

    def __enter__(self) -> RedisGrantStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _key(self, grant_id: str) -> str:
        return f"{self._prefix}grant:{grant_id}"

    def _call(self, script: _Script, now: float, args: Sequence[str]) -> Any:
        return self._do(lambda: script.run(self._client, [self._prefix, repr(float(now)), *args]))

    def _do(self, operation: Callable[[], Any]) -> Any:
        """`operation()` on the blocking client; StoreError (password masked) when it fails."""
        self._check_open()
        try:
            return operation()
        except (RedisError, OSError) as exc:
            raise self._failure(exc) from None

    def _judge(self, fields: Any, token: str, now: float) -> Grant | TokenProblem:
        if not fields:
            return "unknown"
        stored, grant = self._grant(fields)
        return judge(stored, grant, token_hash(token), now)

    def _failure(self, exc: Exception) -> StoreError:
        """A StoreError naming the failure; the password never appears, whatever redis said."""
        text = f"{type(exc).__name__}: {exc}"
        if self._password:
            text = text.replace(self._password, "***")
        return StoreError(f"grant store {self._shown}: {text}")

    def _grant(self, reply: Any) -> tuple[str, Grant]:
        """A stored hash as (token hash, Grant); StoreError naming the grant when it is not
        what this store writes."""
        fields = reply if isinstance(reply, dict) else reply_fields(reply)
        shown = fields.get("id", "?")
        try:
            policy = fields.get("policy")
            rotated_to = fields.get("rotated_to")
            grant = Grant(
                id=_required(fields, "id"),
                server=_required(fields, "server"),
                label=_required(fields, "label"),
                policy=None if policy is None else Path(policy),
                attributes=decode_attributes(_required(fields, "attributes")),
                created=_time(_required(fields, "created")),
                expires=_optional_time(fields.get("expires")),
                revoked=_optional_time(fields.get("revoked")),
                rotated_to=None if rotated_to is None else str(rotated_to),
            )
            return _required(fields, "token_hash"), grant
        except (KeyError, ValueError, TypeError) as exc:
            raise StoreError(
                f"grant store {self._shown}: grant {shown} is damaged: {type(exc).__name__}: {exc}"
            ) from None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"grant store {self._shown} is closed")


def _required(fields: Mapping[str, Any], key: str) -> str:
    if key not in fields:
        raise KeyError(f"no {key}")
    return reply_text(fields[key])


def _time(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"a time is {text!r}, not a finite number")
    return value


def _optional_time(text: object) -> float | None:
    return None if text is None else _time(reply_text(text))
