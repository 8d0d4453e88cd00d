"""The Lua scripts the Redis counter store runs server-side: exact decimal arithmetic on strings,
the all-or-none reservation and the rollback.

Values travel and rest as plain decimal strings (`-?D+(.D+)?`, no exponent, no trailing
fraction zeros, zero is "0"). Redis Lua numbers are doubles, so the arithmetic works on digit
strings: both operands are aligned on the decimal point, then added or subtracted in chunks of
14 digits (every partial sum stays below 2^53, so each chunk is exact). Short integers, the
common case of call counts, take a fast path through doubles (15 digits or fewer: exact).

The reservation mirrors `stores/plan.py` line for line: items in order, a bucket's staged value
seen by later items naming it, sliding slices summed once per bucket, bounds inclusive or
exclusive and checked before or after, the first failing item reported with the value it read;
nothing is written unless every item passes. A script runs atomically in Redis: no other
command interleaves, so two gateways can never both admit the last unit.
"""

from __future__ import annotations

# Shared by both scripts: string helpers, and the reply for a corrupt stored value.
PRELUDE_LUA = r"""
local sub, rep, fmt, find = string.sub, string.rep, string.format, string.find

local function bad(v)
  return redis.error_reply('TOOLGATE stored counter value is not a decimal: ' .. tostring(v))
end

-- the client sends every argument in ARGV[1], space-separated: one argument to encode, not 4n+1
local function words(text)
  local out, n = {}, 0
  for w in string.gmatch(text, '%S+') do n = n + 1; out[n] = w end
  return out, n
end
"""

# The exact decimal functions (each `local function` is a closure created per run, so the
# reservation script builds them only when a value is not a short integer).
DECIMAL_LUA = r"""
local function valid(v)
  return find(v, '^%-?%d+$') ~= nil or find(v, '^%-?%d+%.%d+$') ~= nil
end

local function split(s)
  local neg = false
  if sub(s, 1, 1) == '-' then neg = true; s = sub(s, 2) end
  local dot = find(s, '.', 1, true)
  if dot then return neg, sub(s, 1, dot - 1), sub(s, dot + 1) end
  return neg, s, ''
end

-- two magnitudes as equal-length digit strings, and the number of fraction digits
local function align(ai, af, bi, bf)
  local il = math.max(#ai, #bi)
  local fl = math.max(#af, #bf)
  local a = rep('0', il - #ai) .. ai .. af .. rep('0', fl - #af)
  local b = rep('0', il - #bi) .. bi .. bf .. rep('0', fl - #bf)
  return a, b, fl
end

local function chunks(a, b, sign)
  -- a + b (sign 1) or a - b (sign -1, a >= b) over equal-length digit strings
  local out, n, carry, e = {}, 0, 0, #a
  while e > 0 do
    local st = e - 13
    if st < 1 then st = 1 end
    local w = e - st + 1
    local base = 10 ^ w
    local v = tonumber(sub(a, st, e)) + sign * tonumber(sub(b, st, e)) + carry
    if v >= base then v = v - base; carry = 1
    elseif v < 0 then v = v + base; carry = -1
    else carry = 0 end
    n = n + 1
    out[n] = fmt('%0' .. w .. '.0f', v)
    e = st - 1
  end
  local parts = {}
  if carry == 1 then parts[1] = '1' end
  for k = n, 1, -1 do parts[#parts + 1] = out[k] end
  return table.concat(parts)
end

local function render(neg, digits, fl)
  local ip = sub(digits, 1, #digits - fl)
  local fp = sub(digits, #digits - fl + 1)
  ip = (string.gsub(ip, '^0+', ''))
  fp = (string.gsub(fp, '0+$', ''))
  if ip == '' then ip = '0' end
  if ip == '0' and fp == '' then return '0' end
  local s = ip
  if fp ~= '' then s = s .. '.' .. fp end
  if neg then s = '-' .. s end
  return s
end

local function short_int(s)
  return #s <= 15 and find(s, '^%-?%d+$') ~= nil
end

local function dadd(x, y)
  if short_int(x) and short_int(y) then
    local v = tonumber(x) + tonumber(y)
    if v == 0 then return '0' end
    return fmt('%.0f', v)
  end
  local xn, xi, xf = split(x)
  local yn, yi, yf = split(y)
  local a, b, fl = align(xi, xf, yi, yf)
  if xn == yn then return render(xn, chunks(a, b, 1), fl) end
  if a >= b then return render(xn, chunks(a, b, -1), fl) end
  return render(yn, chunks(b, a, -1), fl)
end

local function dneg(x)
  if x == '0' then return x end
  if sub(x, 1, 1) == '-' then return sub(x, 2) end
  return '-' .. x
end

-- -1, 0 or 1 as x <, = or > y
local function dcmp(x, y)
  if short_int(x) and short_int(y) then
    local a, b = tonumber(x), tonumber(y)
    if a < b then return -1 elseif a > b then return 1 else return 0 end
  end
  local d = dadd(x, dneg(y))
  if d == '0' then return 0 elseif sub(d, 1, 1) == '-' then return -1 else return 1 end
end
"""

# KEYS: the distinct buckets (1..n), then the earlier slices of sliding buckets.
# ARGV (sent space-separated in ARGV[1]): 't' to have Redis's TIME returned, else '-'; the
# client's clock in ms; n; per bucket: when it expires (client clock, ms; its time to live is
# that minus the client's clock, <= 0: already expired), first and last index of its earlier
# slices in KEYS (0 0 when it has none); then per item: bucket index, amount, limit ('_' for
# none), flags ('i' inclusive or 'x' exclusive, then 'b' before or 'a' after). Everything but
# the clock is the same call after call for the same items, so the client encodes it once.
# Returns 1 when applied, {1, TIME} when applied and TIME was asked for, or
# {0, TIME or 0, failed item index (0-based), the value it read}. TIME is Redis's clock
# ({seconds, microseconds}): it keeps the gateways' windows on Redis time at no extra round
# trip (Redis 7 replicates script effects, so TIME alongside writes is allowed).
# Short integers (15 digits or fewer, the common case of call counts) are added and compared as
# doubles (exact); anything else goes through DECIMAL_LUA, built on first need.
RESERVE_LUA = (
    PRELUDE_LUA
    + "local function decimal()\n"
    + DECIMAL_LUA
    + r"""
  return {dadd = dadd, dcmp = dcmp, valid = valid}
end

local A, w = words(ARGV[1])
local now, n = tonumber(A[2]), tonumber(A[3])
local ttl, efirst, elast = {}, {}, {}
local a = 4
for s = 1, n do
  ttl[s] = tonumber(A[a]) - now; efirst[s] = tonumber(A[a + 1]); elast[s] = tonumber(A[a + 2])
  a = a + 3
end
local lib
local function exact()
  if lib == nil then lib = decimal() end
  return lib
end
local function short(v)
  return #v <= 15 and find(v, '^%-?%d+$') ~= nil
end
local function plus(x, y)
  if short(x) and short(y) then
    local v = tonumber(x) + tonumber(y)
    if v == 0 then return '0' end
    return fmt('%.0f', v)
  end
  return exact().dadd(x, y)
end
local function compare(x, y)
  if short(x) and short(y) then
    local p, q = tonumber(x), tonumber(y)
    if p < q then return -1 elseif p > q then return 1 else return 0 end
  end
  return exact().dcmp(x, y)
end
local staged, past = {}, {}
local index = 0
while a <= w do
  local s, amount, limit, flags = tonumber(A[a]), A[a + 1], A[a + 2], A[a + 3]
  a = a + 4
  local current = staged[s]
  if current == nil then
    current = (ttl[s] > 0 and redis.call('GET', KEYS[s])) or '0'
    if not short(current) and not exact().valid(current) then return bad(current) end
  end
  local after = plus(current, amount)
  if limit ~= '_' then
    local seen = current
    if sub(flags, 2, 2) == 'a' then seen = after end
    local read = current
    if efirst[s] > 0 then
      local before = past[s]
      if before == nil then
        before = '0'
        for k = efirst[s], elast[s] do
          local v = redis.call('GET', KEYS[k])
          if v then
            if not short(v) and not exact().valid(v) then return bad(v) end
            before = plus(before, v)
          end
        end
        past[s] = before
      end
      seen = plus(seen, before)
      read = plus(current, before)
    end
    local c = compare(seen, limit)
    if c > 0 or (c == 0 and sub(flags, 1, 1) == 'x') then
      if A[1] == 't' then return {0, redis.call('TIME'), index, read} end
      return {0, 0, index, read}
    end
  end
  staged[s] = after
  index = index + 1
end
for s, value in pairs(staged) do
  if ttl[s] > 0 then redis.call('SET', KEYS[s], value, 'PX', ttl[s]) end
end
if A[1] == 't' then return {1, redis.call('TIME')} end
return 1
"""
)

# KEYS: the distinct live buckets, then a marker key naming this rollback. ARGV (space-separated
# in ARGV[1]): the marker's time to live in ms; per item: bucket index, amount.
# The marker makes a rollback idempotent: a retry of one whose reply was lost finds the marker
# and undoes nothing twice (returns 0). A bucket that no longer exists has expired: it is
# skipped, never recreated negative.
ROLLBACK_LUA = (
    PRELUDE_LUA
    + DECIMAL_LUA
    + r"""
local ARGV = words(ARGV[1])
if not redis.call('SET', KEYS[#KEYS], '1', 'NX', 'PX', tonumber(ARGV[1])) then return 0 end
local staged, gone = {}, {}
local a = 2
while a <= #ARGV do
  local s, amount = tonumber(ARGV[a]), ARGV[a + 1]
  a = a + 2
  if not gone[s] then
    local current = staged[s]
    if current == nil then
      current = redis.call('GET', KEYS[s])
      if current and not valid(current) then return bad(current) end
    end
    if current then staged[s] = dadd(current, dneg(amount)) else gone[s] = true end
  end
end
for s, value in pairs(staged) do
  redis.call('SET', KEYS[s], value, 'KEEPTTL')
end
return 1
"""
)
