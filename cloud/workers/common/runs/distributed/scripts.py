"""The Lua scripts that make each step of a run atomic in Redis (one EVALSHA per step).

Generations: the driver numbers each submission of a job (1, 2, ...) in `gen`; a message
carries its generation. A worker runs a message only if it is the job's current
generation, its result was not published yet and no other worker holds the job's claim;
anything else (a redelivery, a message the driver already replaced, a run that ended) is
acknowledged and dropped, which is safe because the driver resubmits any job whose lease
runs out without a result. Publishing is refused only when a result of this or a later
generation is already in: an older generation's answer that arrives first is kept (it
was paid for) and marks the current generation done, so the newer message becomes a no-op.
"""

from __future__ import annotations

# KEYS: gen, done, checkpoints, claim   ARGV: job, generation, token, claim ttl ms, run ttl s
# -> {status, checkpoint or false}; status: ok | stale | done | busy
CLAIM = """
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
local gen = tonumber(ARGV[2])
if cur ~= gen then return {'stale', false} end
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if done >= gen then return {'done', false} end
local holder = redis.call('GET', KEYS[4])
if holder and holder ~= ARGV[3] then return {'busy', false} end
redis.call('SET', KEYS[4], ARGV[3], 'PX', ARGV[4])
return {'ok', redis.call('HGET', KEYS[3], ARGV[1])}
"""

# KEYS: gen, done, results, claim   ARGV: job, generation, token, payload, run ttl s  -> 1 published | 0 duplicate
PUBLISH = """
local gen = tonumber(ARGV[2])
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if redis.call('GET', KEYS[4]) == ARGV[3] then redis.call('DEL', KEYS[4]) end
if done >= gen then return 0 end
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
redis.call('HSET', KEYS[2], ARGV[1], math.max(cur, gen))
redis.call('RPUSH', KEYS[3], ARGV[4])
for i = 2, 3 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
"""

# KEYS: checkpoints, claim   ARGV: job, token, turns JSON, run ttl s  -> 1 written | 0 the claim is no longer ours
CHECKPOINT = """
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
"""

# KEYS: the claims to renew   ARGV: their tokens, in order, then the ttl ms  -> how many were still ours
RENEW = """
local ttl = ARGV[#ARGV]
local renewed = 0
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[i] then
    redis.call('PEXPIRE', key, ttl)
    renewed = renewed + 1
  end
end
return renewed
"""

# The driver's one question about a job that must run (again): is it running, is its result
# waiting to be collected, or must it be submitted under a new generation?
# KEYS: gen, done, collected, claim   ARGV: job, run ttl s
# -> {'claimed', gen} | {'pending', gen} | {'submit', new gen}
LEASE = """
local cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if redis.call('EXISTS', KEYS[4]) == 1 then return {'claimed', cur} end
local done = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local collected = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if cur > 0 and done >= cur and collected < done then return {'pending', cur} end
local nxt = math.max(cur, done) + 1
redis.call('HSET', KEYS[1], ARGV[1], nxt)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {'submit', nxt}
"""

# -- the shared rate limit ------------------------------------------------------------------
# One hash per provider and API key hash. Two GCRA cells (requests, tokens) with a burst of
# `burst_s` seconds of the rate (at least one job), an adaptive factor (halved on a 429 at
# most once per quiet period, stepped back up after a quiet period), a pause (a retry
# hint), a limit learned from the observed rate when none is configured, and a rough
# per-minute count of what was sent. Time is the Redis server's, so machines whose clocks
# differ still share one schedule. Admission reserves the earliest slot both cells allow
# and returns how long to wait for it: one EVAL per job, arrivals served in order.

_LIMITER_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tat_r', 'tat_t', 'factor', 'last_change', 'paused', 'learned',
  'last_slow', 'win_start', 'win_count', 'prev_count', 'first')
local tat_r = tonumber(s[1]) or now
local tat_t = tonumber(s[2]) or now
local factor = tonumber(s[3]) or 1
local last_change = tonumber(s[4]) or now
local paused = tonumber(s[5]) or 0
local learned = tonumber(s[6]) or 0
local last_slow = tonumber(s[7]) or -1
local win_start = tonumber(s[8]) or now
local win_count = tonumber(s[9]) or 0
local prev_count = tonumber(s[10]) or 0
local first = tonumber(s[11]) or now
local function interval(per_minute) return 60 / (per_minute * factor) end
local function capacity(per_minute, burst) return math.max(1, per_minute * factor / 60 * burst) end
local function save()
  redis.call('HSET', KEYS[1], 'tat_r', tostring(tat_r), 'tat_t', tostring(tat_t), 'factor', tostring(factor),
    'last_change', tostring(last_change), 'paused', tostring(paused), 'learned', tostring(learned),
    'last_slow', tostring(last_slow), 'win_start', tostring(win_start), 'win_count', tostring(win_count),
    'prev_count', tostring(prev_count), 'first', tostring(first))
  redis.call('EXPIRE', KEYS[1], 86400)
end
local function roll_window()
  local age = now - win_start
  if age >= 60 then
    if age >= 120 then prev_count = 0 else prev_count = win_count end
    win_count = 0
    win_start = now - (age % 60)
  end
end
"""

# ARGV: rpm (0: none), tpm (0: none), requests, tokens, burst s, recover after s, recover factor
# -> {wait seconds, effective rpm, effective tpm, the schedule's ends tat_r and tat_t} as strings
ADMIT = (
    _LIMITER_PRELUDE
    + """
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local nreq, ntok = tonumber(ARGV[3]), tonumber(ARGV[4])
local burst, recover_after, recover_factor = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
if factor < 1 then
  local steps = math.floor((now - last_change) / recover_after)
  if steps > 0 then
    factor = math.min(1, factor * recover_factor ^ steps)
    last_change = last_change + steps * recover_after
  end
end
if rpm <= 0 and learned > 0 then rpm = learned end
local start = math.max(now, paused)
if rpm > 0 then
  start = math.max(start, tat_r - (capacity(rpm, burst) - math.min(nreq, capacity(rpm, burst))) * interval(rpm))
end
if tpm > 0 then
  start = math.max(start, tat_t - (capacity(tpm, burst) - math.min(ntok, capacity(tpm, burst))) * interval(tpm))
end
if rpm > 0 then tat_r = math.max(tat_r, start) + nreq * interval(rpm) end
if tpm > 0 then tat_t = math.max(tat_t, start) + ntok * interval(tpm) end
roll_window()
win_count = win_count + nreq
save()
return {tostring(start - now), tostring(rpm * factor), tostring(tpm * factor), tostring(tat_r), tostring(tat_t)}
"""
)

# What a job spent beyond its estimate. ARGV: rpm, tpm, extra requests, extra tokens, and the
# schedule's ends (tat_r, tat_t) as its admission left them. More than estimated pushes the
# schedule on. Less (negative: a job that ended early, a message that was not run) is given
# back only while the schedule still ends where this job's reservation left it, or when no
# slot lies ahead any more (the end is not in the future: a refund, which the burst caps).
# Once another slot was reserved after it, moving the end back would book that slot's time
# twice (two requests at once for every slot given back), so the unused slot stays empty:
# the limit is never exceeded; an unused slot in the middle of a busy schedule is lost.
SETTLE = (
    _LIMITER_PRELUDE
    + """
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
local extra_r, extra_t = tonumber(ARGV[3]), tonumber(ARGV[4])
if rpm <= 0 and learned > 0 then rpm = learned end
local function may_give_back(tat, stored, mark)
  return tat <= now or (mark ~= nil and stored == mark)
end
if rpm > 0 and (extra_r > 0 or (extra_r < 0 and may_give_back(tat_r, s[1], ARGV[5]))) then
  tat_r = tat_r + extra_r * interval(rpm)
end
if tpm > 0 and (extra_t > 0 or (extra_t < 0 and may_give_back(tat_t, s[2], ARGV[6]))) then
  tat_t = tat_t + extra_t * interval(tpm)
end
roll_window()
if tonumber(ARGV[3]) > 0 then win_count = win_count + tonumber(ARGV[3]) end
save()
return 1
"""
)

# A worker saw a 429. ARGV: rpm configured (0: none), retry hint s, quiet s, slow factor, min factor, burst s
# -> {1 if this slowed every worker down (0: same burst), effective rpm}
RATE_LIMITED = (
    _LIMITER_PRELUDE
    + """
local rpm, hint, quiet = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local slow, min_factor, burst = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if hint > 0 then paused = math.max(paused, now + hint) end
if last_slow >= 0 and now - last_slow < quiet then
  save()
  return {0, tostring((rpm > 0 and rpm or learned) * factor)}
end
if rpm <= 0 and learned <= 0 then
  roll_window()
  local window = math.min(60, math.max(1, now - first))
  local age = now - win_start
  local sent = win_count + prev_count * math.max(0, 60 - age) / 60
  learned = math.max(1, sent * 60 / window)
  tat_r = now + capacity(learned, burst) * interval(learned)  -- an empty bucket: no burst after a 429
end
factor = math.max(min_factor, factor * slow)
last_slow, last_change = now, now
save()
return {1, tostring((rpm > 0 and rpm or learned) * factor)}
"""
)
