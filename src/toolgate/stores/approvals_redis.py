"""RedisApprovalStore: approvals in Redis, so every replica of a gateway fleet sees every one.

Every state change is ONE Lua script, atomic in Redis: create-or-join, resolve, consume,
record_answered (created only when the id is new: SET NX semantics), expire; reads that may mark
a lapsed approval expired (`get`, `current`, `list`) are scripts too. Scripts are loaded on first
use and again when Redis answers NOSCRIPT (a restart, a failover, SCRIPT FLUSH).

Keys, under `prefix` (default "toolgate:"):

    approval:<id>                  hash: the approval (the request as exact JSON, times as the
                                   caller gave them, exactly: Python float repr)
    approvals:fingerprint:<fp>     sorted set of the fingerprint's live approvals (pending,
                                   approved, denied), scored by created_at
    approvals:index                sorted set of every approval, scored by created_at (`list`)
    approvals:live                 sorted set of live approval ids, scored by expires_at
                                   (`expire` finds the lapsed ones without a scan)
    approvals:seq                  a counter: members of the created_at sets are
                                   "<16-digit sequence>:<id>", so equal times keep their order

An approval's hash expires `RETENTION_SECONDS` after the approval ended (its `expires_at`, or
when it was consumed); index entries left pointing at vanished hashes are dropped by `list`
and, a batch at a time, by `expire`. TTLs are durations from the caller's `now`, so they do not
depend on the two clocks agreeing.

`wait` wakes at once on a `resolve` made through this store object (an anyio Event); a
resolution by another replica is noticed by polling the approval's status (one HGET) every
`POLL_SECONDS`. Polling was chosen over pub/sub: it needs no dedicated connection, no keyspace
notifications in the server's configuration, and cannot miss a message sent while resubscribing.

Failures: any Redis error becomes StoreError naming the server with its password masked; the
caller refuses the call (fail closed). Standalone Redis or a primary only (not Redis Cluster):
the scripts reach keys they derive from the ones they are given.
"""

from __future__ import annotations

import builtins
import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
import orjson
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError, RedisError

from toolgate.errors import ConfigError, StoreError
from toolgate.jsonrpc.message import decode_exact, encode
from toolgate.stores.approvals import (
    Approval,
    ApprovalNotFound,
    ApprovalNotPending,
    ApprovalRequest,
    ApprovalStatus,
    SelfApprovalError,
)
from toolgate.stores.approvals_memory import (
    POLL_SECONDS,
    RETENTION_SECONDS,
    Wakeups,
    check_approval_id,
    check_approver,
    check_dedupe,
    check_limit,
    check_now,
    check_request,
    check_timeout,
    encode_arguments,
    new_approval_id,
)
from toolgate.stores.redis_url import (
    check_url,
    describe_connection,
    redact,
    reply_fields,
    reply_text,
)

DEFAULT_PREFIX = "toolgate:"
DEFAULT_TIMEOUT = 2.0  # seconds, for connecting and for each reply (from_url)
ID_ATTEMPTS = 8

COMMON_LUA = r"""
local P = ARGV[1]
local NOW = tonumber(ARGV[2])
local INDEX = P .. 'approvals:index'
local LIVE = P .. 'approvals:live'
local SEQ = P .. 'approvals:seq'
local live = {pending = true, approved = true, denied = true}

local function akey(id) return P .. 'approval:' .. id end
local function fkey(fp) return P .. 'approvals:fingerprint:' .. fp end
local function id_of(member) return string.sub(member, 18) end

-- let a fingerprint's set live at least `ttl` ms more
local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end

-- take an approval that became consumed or expired out of the live sets
local function retire(id, h)
  local fp = redis.call('HGET', h, 'fingerprint')
  local member = redis.call('HGET', h, 'member')
  redis.call('ZREM', LIVE, id)
  if fp and member then redis.call('ZREM', fkey(fp), member) end
end

-- mark `id` expired when it is live and its time is up; true when it did
local function lapse(id)
  local h = akey(id)
  local status = redis.call('HGET', h, 'status')
  if not status or not live[status] then return false end
  if tonumber(redis.call('HGET', h, 'expires_at')) > NOW then return false end
  redis.call('HSET', h, 'status', 'expired')
  retire(id, h)
  return true
end

-- mark every lapsed live approval expired; returns their hashes
local function lapse_due()
  local out = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', LIVE, '-inf', NOW)) do
    local h = akey(id)
    if lapse(id) then
      out[#out + 1] = redis.call('HGETALL', h)
    else
      local status = redis.call('HGET', h, 'status')
      if not status or not live[status] then redis.call('ZREM', LIVE, id) end
    end
  end
  return out
end

-- the newest live approval of a fingerprint's set (lapsed ones marked on the way), or nil
local function newest_live(F)
  local found = nil
  for _, member in ipairs(redis.call('ZREVRANGE', F, 0, -1)) do
    local id = id_of(member)
    local h = akey(id)
    if redis.call('EXISTS', h) == 0 then
      redis.call('ZREM', F, member)
    elseif not lapse(id) then
      local status = redis.call('HGET', h, 'status')
      if not live[status] then
        redis.call('ZREM', F, member)
      elseif found == nil then
        found = h
      end
    end
  end
  return found
end
"""

# ARGV: prefix, now, dedupe seconds ('' for none), new id, fingerprint, identity ('-' for none,
# else '+' and the identity), request JSON, timeout, expires_at, ttl ms.
# Returns {0, hash} when joined, {1, hash} when created, {2} when the new id is taken.
REQUEST_LUA = (
    COMMON_LUA
    + r"""
local F = fkey(ARGV[5])
local newest = nil
for _, member in ipairs(redis.call('ZREVRANGE', F, 0, -1)) do
  local id = id_of(member)
  local h = akey(id)
  if redis.call('EXISTS', h) == 0 then
    redis.call('ZREM', F, member)
  elseif not lapse(id) and newest == nil and redis.call('HGET', h, 'status') == 'pending' then
    newest = h
  end
end
if newest then
  local created = tonumber(redis.call('HGET', newest, 'created_at'))
  if ARGV[3] == '' or NOW - created <= tonumber(ARGV[3]) then
    redis.call('HINCRBY', newest, 'joined', 1)
    return {0, redis.call('HGETALL', newest)}
  end
end
local id = ARGV[4]
local h = akey(id)
if redis.call('EXISTS', h) == 1 then return {2} end
local member = string.format('%016d:%s', redis.call('INCR', SEQ), id)
redis.call('HSET', h, 'id', id, 'fingerprint', ARGV[5], 'request', ARGV[7], 'timeout', ARGV[8],
  'status', 'pending', 'created_at', ARGV[2], 'expires_at', ARGV[9], 'joined', '0',
  'member', member)
if string.sub(ARGV[6], 1, 1) == '+' then
  redis.call('HSET', h, 'identity', string.sub(ARGV[6], 2))
end
local ttl = tonumber(ARGV[10])
redis.call('PEXPIRE', h, ttl)
redis.call('ZADD', F, ARGV[2], member)
redis.call('ZADD', INDEX, ARGV[2], member)
redis.call('ZADD', LIVE, ARGV[9], id)
keep(F, ttl)
return {1, redis.call('HGETALL', h)}
"""
)

# ARGV: prefix, now, fingerprint. Returns the hash or false.
CURRENT_LUA = (
    COMMON_LUA
    + r"""
local h = newest_live(fkey(ARGV[3]))
if h == nil then return false end
return redis.call('HGETALL', h)
"""
)

# ARGV: prefix, now, id. Returns the hash or false.
GET_LUA = (
    COMMON_LUA
    + r"""
local h = akey(ARGV[3])
if redis.call('EXISTS', h) == 0 then return false end
lapse(ARGV[3])
return redis.call('HGETALL', h)
"""
)

# ARGV: prefix, now, id, 'approved' or 'denied', by, reason ('-' for none, else '+' and it),
# retention ms. Returns {'missing'}, {'done', hash}, {'self', hash} or {'ok', hash}.
RESOLVE_LUA = (
    COMMON_LUA
    + r"""
local id = ARGV[3]
local h = akey(id)
if redis.call('EXISTS', h) == 0 then return {'missing'} end
lapse(id)
if redis.call('HGET', h, 'status') ~= 'pending' then return {'done', redis.call('HGETALL', h)} end
if redis.call('HGET', h, 'identity') == ARGV[5] then return {'self', redis.call('HGETALL', h)} end
local timeout = tonumber(redis.call('HGET', h, 'timeout'))
local expires = string.format('%.17g', NOW + timeout)
redis.call('HSET', h, 'status', ARGV[4], 'resolved_at', ARGV[2], 'resolved_by', ARGV[5],
  'expires_at', expires)
if string.sub(ARGV[6], 1, 1) == '+' then
  redis.call('HSET', h, 'reason', string.sub(ARGV[6], 2))
end
redis.call('ZADD', LIVE, expires, id)
local ttl = math.ceil(timeout * 1000) + tonumber(ARGV[7])
redis.call('PEXPIRE', h, ttl)
keep(fkey(redis.call('HGET', h, 'fingerprint')), ttl)
return {'ok', redis.call('HGETALL', h)}
"""
)

# ARGV: prefix, now, id, retention ms. Returns the consumed hash or false.
CONSUME_LUA = (
    COMMON_LUA
    + r"""
local id = ARGV[3]
local h = akey(id)
if redis.call('HGET', h, 'status') ~= 'approved' then return false end
if lapse(id) then return false end
redis.call('HSET', h, 'status', 'consumed', 'consumed_at', ARGV[2])
retire(id, h)
redis.call('PEXPIRE', h, tonumber(ARGV[4]))
return redis.call('HGETALL', h)
"""
)

# ARGV: prefix, now, id, 'consumed' or 'denied', fingerprint, identity ('-' or '+' and it),
# request JSON, timeout, expires_at, by, ttl ms. Returns the hash, or false when the id exists.
RECORD_LUA = (
    COMMON_LUA
    + r"""
local id = ARGV[3]
local h = akey(id)
if redis.call('EXISTS', h) == 1 then return false end
local member = string.format('%016d:%s', redis.call('INCR', SEQ), id)
redis.call('HSET', h, 'id', id, 'fingerprint', ARGV[5], 'request', ARGV[7], 'timeout', ARGV[8],
  'status', ARGV[4], 'created_at', ARGV[2], 'expires_at', ARGV[9], 'resolved_at', ARGV[2],
  'resolved_by', ARGV[10], 'joined', '0', 'member', member)
if string.sub(ARGV[6], 1, 1) == '+' then
  redis.call('HSET', h, 'identity', string.sub(ARGV[6], 2))
end
local ttl = tonumber(ARGV[11])
redis.call('PEXPIRE', h, ttl)
redis.call('ZADD', INDEX, ARGV[2], member)
if ARGV[4] == 'consumed' then
  redis.call('HSET', h, 'consumed_at', ARGV[2])
else
  local F = fkey(ARGV[5])
  redis.call('ZADD', F, ARGV[2], member)
  redis.call('ZADD', LIVE, ARGV[9], id)
  keep(F, ttl)
end
return redis.call('HGETALL', h)
"""
)

# ARGV: prefix, now, how many of the oldest index entries to check for vanished hashes.
# Returns the hashes just marked expired.
EXPIRE_LUA = (
    COMMON_LUA
    + r"""
local marked = lapse_due()
for _, member in ipairs(redis.call('ZRANGE', INDEX, 0, tonumber(ARGV[3]) - 1)) do
  if redis.call('EXISTS', akey(id_of(member))) == 0 then redis.call('ZREM', INDEX, member) end
end
return marked
"""
)

# ARGV: prefix, now, status ('' for any), limit. Returns hashes, newest first.
LIST_LUA = (
    COMMON_LUA
    + r"""
lapse_due()
local want, limit = ARGV[3], tonumber(ARGV[4])
local out, gone, start = {}, {}, 0
while #out < limit do
  local members = redis.call('ZREVRANGE', INDEX, start, start + 99)
  if #members == 0 then break end
  for _, member in ipairs(members) do
    local h = akey(id_of(member))
    local status = redis.call('HGET', h, 'status')
    if not status then
      gone[#gone + 1] = member
    elseif want == '' or status == want then
      out[#out + 1] = redis.call('HGETALL', h)
      if #out >= limit then break end
    end
  end
  start = start + #members
end
for _, member in ipairs(gone) do redis.call('ZREM', INDEX, member) end
return out
"""
)

INDEX_CHECK_BATCH = 100  # oldest index entries `expire` checks for vanished hashes
RETENTION_MS = math.ceil(RETENTION_SECONDS * 1000)


class _Script:
    """A Lua script run by SHA; loaded on NOSCRIPT (first use, or after a flush or restart)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()

    async def run(self, client: Redis, args: Sequence[str]) -> Any:
        try:
            return await client.evalsha(self.sha, 0, *args)
        except NoScriptError:
            await client.script_load(self.source)
            return await client.evalsha(self.sha, 0, *args)


_REQUEST = _Script(REQUEST_LUA)
_CURRENT = _Script(CURRENT_LUA)
_GET = _Script(GET_LUA)
_RESOLVE = _Script(RESOLVE_LUA)
_CONSUME = _Script(CONSUME_LUA)
_RECORD = _Script(RECORD_LUA)
_EXPIRE = _Script(EXPIRE_LUA)
_LIST = _Script(LIST_LUA)


class RedisApprovalStore:
    """An ApprovalStore in Redis. It takes over `client`: `aclose` closes it."""

    def __init__(self, client: Redis, *, prefix: str = DEFAULT_PREFIX) -> None:
        if not isinstance(prefix, str) or not prefix or prefix != prefix.strip():
            raise ConfigError(f"the Redis key prefix must be non-empty text, got {prefix!r}")
        self._client = client
        self._prefix = prefix
        self._shown, self._password = describe_connection(client.connection_pool.connection_kwargs)
        self._wakeups = Wakeups()
        self._closed = False

    @classmethod
    def from_url(
        cls, url: str, *, prefix: str = DEFAULT_PREFIX, timeout: float = DEFAULT_TIMEOUT
    ) -> RedisApprovalStore:
        """A store on a new client for the DSN `url` (ConfigError when it is not one)."""
        check_url(url)
        client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        store = cls(client, prefix=prefix)
        store._shown = redact(url)
        return store

    @property
    def url(self) -> str:
        """Where the store is, password masked: the only form ever shown."""
        return self._shown

    async def request(
        self, request: ApprovalRequest, *, dedupe_seconds: float | None, now: float
    ) -> tuple[Approval, bool]:
        check_request(request)
        check_dedupe(dedupe_seconds)
        check_now(now)
        at = float(now)
        expires = at + float(request.timeout_seconds)
        ttl = math.ceil(float(request.timeout_seconds) * 1000) + RETENTION_MS
        dedupe = ""  # join any pending one, however old
        if dedupe_seconds is not None and not math.isinf(dedupe_seconds):
            dedupe = repr(float(dedupe_seconds))
        head = [dedupe]
        for _ in range(ID_ATTEMPTS):
            args = [*head, new_approval_id(), request.fingerprint, _optional(request.identity)]
            args += [_request_json(request), repr(float(request.timeout_seconds))]
            args += [repr(expires), str(ttl)]
            reply = await self._call(_REQUEST, at, args)
            if int(reply[0]) != 2:
                return self._approval(reply[1]), int(reply[0]) == 1
        raise StoreError(f"approval store {self._shown}: no free id after {ID_ATTEMPTS} attempts")

    async def current(self, fingerprint: str, now: float) -> Approval | None:
        check_now(now)
        reply = await self._call(_CURRENT, now, [fingerprint])
        return self._approval(reply) if reply else None

    async def get(self, approval_id: str, now: float) -> Approval | None:
        check_now(now)
        reply = await self._call(_GET, now, [approval_id])
        if not reply:
            return None
        approval = self._approval(reply)
        if approval.status is not ApprovalStatus.PENDING:
            self._wakeups.wake([approval.id])
        return approval

    async def list(
        self, *, now: float, status: ApprovalStatus | None = None, limit: int = 100
    ) -> builtins.list[Approval]:
        check_now(now)
        check_limit(limit)
        wanted = "" if status is None else ApprovalStatus(status).value
        replies = await self._call(_LIST, now, [wanted, str(limit)])
        return [self._approval(reply) for reply in replies]

    async def resolve(
        self, approval_id: str, *, approve: bool, by: str, reason: str | None, now: float
    ) -> Approval:
        check_now(now)
        check_approver(by)
        status = ApprovalStatus.APPROVED if approve else ApprovalStatus.DENIED
        args = [approval_id, status.value, by, _optional(reason), str(RETENTION_MS)]
        reply = await self._call(_RESOLVE, now, args)
        outcome = reply_text(reply[0])
        if outcome == "missing":
            raise ApprovalNotFound(f"no approval {approval_id} in {self._shown}")
        approval = self._approval(reply[1])
        if outcome == "done":
            self._wakeups.wake([approval.id])
            raise ApprovalNotPending(approval)
        if outcome == "self":
            raise SelfApprovalError(f"{by} asked for approval {approval_id} and cannot resolve it")
        self._wakeups.wake([approval.id])
        return approval

    async def consume(self, approval_id: str, now: float) -> Approval | None:
        check_now(now)
        reply = await self._call(_CONSUME, now, [approval_id, str(RETENTION_MS)])
        return self._approval(reply) if reply else None

    async def record_answered(
        self,
        approval_id: str,
        request: ApprovalRequest,
        *,
        approved: bool,
        by: str,
        now: float,
    ) -> Approval | None:
        check_approval_id(approval_id)
        check_request(request)
        check_now(now)
        check_approver(by)
        timeout = float(request.timeout_seconds)
        status = ApprovalStatus.CONSUMED if approved else ApprovalStatus.DENIED
        ttl = RETENTION_MS + (0 if approved else math.ceil(timeout * 1000))
        args = [approval_id, status.value, request.fingerprint, _optional(request.identity)]
        args += [_request_json(request), repr(timeout), repr(float(now) + timeout), by, str(ttl)]
        reply = await self._call(_RECORD, now, args)
        return self._approval(reply) if reply else None

    async def expire(self, now: float) -> builtins.list[Approval]:
        check_now(now)
        replies = await self._call(_EXPIRE, now, [str(INDEX_CHECK_BATCH)])
        marked = sorted((self._approval(reply) for reply in replies), key=lambda a: a.created_at)
        self._wakeups.wake(a.id for a in marked)
        return marked

    async def wait(
        self,
        approval_id: str,
        *,
        timeout: float,  # noqa: ASYNC109 - the protocol's bound on the wait, not a cancellation
        now: float,
    ) -> Approval | None:
        """See ApprovalStore.wait; its state is judged at `now` (the store reads no clock)."""
        check_timeout(timeout)
        approval = await self.get(approval_id, now)
        if approval is None or approval.status is not ApprovalStatus.PENDING:
            return approval
        event = self._wakeups.event(approval_id)
        key = f"{self._prefix}approval:{approval_id}"
        try:
            with anyio.move_on_after(timeout):
                while not event.is_set():
                    with anyio.move_on_after(POLL_SECONDS):
                        await event.wait()
                    if event.is_set() or await self._status(key) != "pending":
                        break
        finally:
            self._wakeups.done_waiting(approval_id)
        return await self.get(approval_id, now)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wakeups.wake_all()
        await self._client.aclose()

    async def _status(self, key: str) -> str | None:
        self._check_open()
        try:
            value = await self._client.hget(key, "status")
        except RedisError as exc:
            raise self._failure(exc) from None
        return None if value is None else reply_text(value)

    async def _call(self, script: _Script, now: float, args: Sequence[str]) -> Any:
        self._check_open()
        try:
            return await script.run(self._client, [self._prefix, repr(float(now)), *args])
        except RedisError as exc:
            raise self._failure(exc) from None

    def _failure(self, exc: RedisError) -> StoreError:
        """A StoreError naming the failure; the password never appears, whatever redis said."""
        text = f"{type(exc).__name__}: {exc}"
        if self._password:
            text = text.replace(self._password, "***")
        return StoreError(f"approval store {self._shown}: {text}")

    def _approval(self, reply: Any) -> Approval:
        """A hash as an Approval; StoreError naming the approval when it is not what we write."""
        fields = reply_fields(reply)
        shown = fields.get("id", "?")
        try:
            request = decode_exact(fields["request"])
            if not isinstance(request, dict) or not isinstance(request.get("arguments"), dict):
                raise TypeError("the request is not a JSON object with arguments")
            return Approval(
                id=fields["id"],
                request=ApprovalRequest(
                    fingerprint=fields["fingerprint"],
                    tool=_str(request, "tool"),
                    arguments=request["arguments"],
                    rule_id=_str(request, "rule_id"),
                    rule_name=_optional_str(request, "rule_name"),
                    policy_revision=_str(request, "policy_revision"),
                    identity=fields.get("identity"),
                    server=_optional_str(request, "server"),
                    session=_optional_str(request, "session"),
                    message=_str(request, "message"),
                    decision_id=_str(request, "decision_id"),
                    mode=_str(request, "mode"),
                    timeout_seconds=float(fields["timeout"]),
                ),
                status=ApprovalStatus(fields["status"]),
                created_at=float(fields["created_at"]),
                expires_at=float(fields["expires_at"]),
                resolved_at=_optional_float(fields.get("resolved_at")),
                resolved_by=fields.get("resolved_by"),
                reason=fields.get("reason"),
                consumed_at=_optional_float(fields.get("consumed_at")),
                joined=int(fields.get("joined", "0")),
            )
        except (KeyError, ValueError, TypeError, RecursionError) as exc:
            raise StoreError(
                f"approval store {self._shown}: approval {shown} is damaged: "
                f"{type(exc).__name__}: {exc}"
            ) from None

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(f"approval store {self._shown} is closed")


def _request_json(request: ApprovalRequest) -> str:
    """The request as JSON (the fingerprint, identity and timeout are kept as their own fields)."""
    arguments = orjson.Fragment(encode_arguments(request.arguments).encode())
    document = {
        "tool": request.tool,
        "arguments": arguments,
        "rule_id": request.rule_id,
        "rule_name": request.rule_name,
        "policy_revision": request.policy_revision,
        "server": request.server,
        "session": request.session,
        "message": request.message,
        "decision_id": request.decision_id,
        "mode": request.mode,
    }
    try:
        return encode(document).decode()
    except TypeError as exc:
        raise StoreError(f"an approval request cannot be stored as JSON: {exc}") from None


def _optional(value: str | None) -> str:
    """A value the scripts tell from None by its first character."""
    return "-" if value is None else "+" + value


def _str(document: Mapping[str, Any], key: str) -> str:
    value = document[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} is not text")
    return value


def _optional_str(document: Mapping[str, Any], key: str) -> str | None:
    return None if document.get(key) is None else _str(document, key)


def _optional_float(value: str | None) -> float | None:
    return None if value is None else float(value)
