"""STM and IM on Redis (redis-py + hiredis): shared by processes and hosts, unchanged on Redis Cluster.

Key layout (``ns`` = ``config.namespace``, ``T`` = ``stm`` | ``im``, ``{tag}`` = the agent id, or
``#`` + its UTF-8 hex when it contains ``{``, ``}`` or starts with ``#``)::

    ns:{tag}:T:m:<suffix>   string  one record: 63-byte header, float32 vector, content bytes
    ns:{tag}:T:ids          zset    memory ids; score = expiry deadline in ms (+inf: no expiry)
    ns:{tag}:T:ver          string  the agent-tier's write version (INCR once per add/remove/update)
    ns:{tag}:T:sz           hash    memory id -> content and raw sizes (uint32 pair), for statistics
    ns:{tag}:T:c:<suffix>   string  a claim on a leaving memory: the claiming store's token (lapses: PX)
    ns:{tag}:T:t:<token><n> string  marks a retrieval-count flush as applied (lapses: PX)
    ns:T:agents             set     agent ids that ever wrote this tier (filtered by ids on read)

All keys of one agent-tier share the hash tag, so each write is one atomic round trip with every key
in one slot -- a Lua script for IM and for small STM writes (one command and one reply: a single
store costs ~20 % less than as a MULTI/EXEC of five commands), MULTI/EXEC (MSET in slices, ZADD,
HSET, INCR) for larger STM batches -- and Redis Cluster runs it unchanged. IM records expire natively
(``SET … PX``); every IM script first purges ids whose deadline passed, bumping the version once more
so tiers rebuild their indexes without them.

A write whose reply is lost (a timeout, a dropped connection) is re-sent by the driver, so the server
may run it twice: every write is idempotent by memory id (SET, ZADD and HSET of the same id and bytes;
a second run only bumps the version once more, which at most makes other processes rebuild an index),
and the retrieval-count increments run at most once per flush (a marker key). When the retries are
exhausted the StorageError says the outcome is unknown and carries the ``memory_ids`` concerned.
Memories leave a tier by claim: a script sets a lapsing claim key only where no other store holds one
and returns just those records; only they are moved or forgotten, and `remove` leaves records another
store claimed alone -- so two processes never move, archive or count the same memory twice.
"""

from __future__ import annotations

import itertools
import os
import struct
import time
from typing import Iterable, Optional, Sequence

import numpy as np
import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from ..config import check_redis_url, redact, scrub, url_secrets  # redact: the one URL-masking function
from ..entry import MEMORY_TYPES, TYPE_CODES, MemoryRecord
from .base import MemoryStore
from ..errors import ConfigError, CorruptDataError, StorageError
from ..integrity import CorruptionLog
from .ids import by_agent, of_agent, split_id, suffixes

_ERRORS = (RedisError, RedisClusterException)  # everything redis-py raises on purpose

# content_len, raw_bytes, last_accessed, retrieval_count, step, type, dim, priority, importance, created, entered
# (the touch script rewrites last_accessed and retrieval_count in place: bytes 8..19)
HEADER = struct.Struct("<IIdiqBHdddd")
_SIZES = struct.Struct("<II")  # content bytes, raw bytes (the first 8 header bytes)
CONNECT_TIMEOUT = 0.5  # seconds per connection attempt
SOCKET_TIMEOUT = 5.0   # seconds per reply once connected
PROBE_TIMEOUT = 0.6    # the first PING: an unreachable server is reported well within 2 s
RETRIES = 2            # a dropped connection is retried this many times (exponential backoff), then StorageError
TOUCH_FLUSH = 256      # buffered retrieval counts written together ...
TOUCH_MAX_AGE = 1.0    # ... or once the oldest is this many seconds old
LUA_ADD_MAX = 16       # STM adds of at most this many records run the add script (one command, one reply)
MSET_SLICE_BYTES = 1 << 20  # larger STM adds send MSETs of about this many bytes inside MULTI/EXEC: hiredis
                            # packs one 100 MB MSET at ~6 ms per MB, 1 MB slices at ~0.3 ms per MB
CLAIM_LEASE = 60.0     # seconds a claim on leaving memories holds if its claimer never removes them (a crash)
MARKER_TTL_MS = 120_000  # a flush marker outlives every driver retry of its flush
_LOST_REPLY = (RedisConnectionError, RedisTimeoutError)  # the command may have run: outcome unknown

_LUA_PRELUDE = r"""
local VER, IDS, SZ = KEYS[1], KEYS[2], KEYS[3]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- drop ids whose deadline passed (their record keys already expired natively) and their sizes
local function purge(ttl)
  if ttl <= 0 then return 0 end
  local now = now_ms()
  local gone = redis.call('ZRANGEBYSCORE', IDS, '-inf', now)
  if #gone == 0 then return 0 end
  for i = 1, #gone, 1000 do
    redis.call('HDEL', SZ, unpack(gone, i, math.min(i + 999, #gone)))
  end
  redis.call('ZREMRANGEBYSCORE', IDS, '-inf', now)
  return #gone
end
"""

# (TTL tiers; STM writes: _LUA_ADD_PLAIN or MULTI/EXEC)  KEYS: ver, ids, sz, record keys…
# ARGV: ttl_ms, then id, blob, sizes per record  →  {version, count}
_LUA_ADD = _LUA_PRELUDE + r"""
local ttl = tonumber(ARGV[1])
local bump = 1
if purge(ttl) > 0 then bump = 2 end
local score = now_ms() + ttl
local n = #KEYS - 3
for lo = 1, n, 1000 do
  local hi = math.min(lo + 999, n)
  local zargs, sargs = {}, {}
  for i = lo, hi do
    local id = ARGV[3 * i - 1]
    redis.call('SET', KEYS[3 + i], ARGV[3 * i], 'PX', ttl)
    zargs[#zargs + 1] = score
    zargs[#zargs + 1] = id
    sargs[#sargs + 1] = id
    sargs[#sargs + 1] = ARGV[3 * i + 1]
  end
  redis.call('ZADD', IDS, unpack(zargs))
  redis.call('HSET', SZ, unpack(sargs))
end
return {redis.call('INCRBY', VER, bump), redis.call('ZCARD', IDS)}
"""

# STM writes of at most LUA_ADD_MAX records (no expiry; what MULTI/EXEC does for larger batches, as one
# command with one reply).  KEYS: ver, ids, sz, record keys…   ARGV: id, blob, sizes per record
# →  {version, count}
_LUA_ADD_PLAIN = r"""
for i = 1, #KEYS - 3 do
  redis.call('SET', KEYS[3 + i], ARGV[3 * i - 1])
  redis.call('ZADD', KEYS[2], 0, ARGV[3 * i - 2])
  redis.call('HSET', KEYS[3], ARGV[3 * i - 2], ARGV[3 * i])
end
return {redis.call('INCR', KEYS[1]), redis.call('ZCARD', KEYS[2])}
"""

# KEYS: ver, ids, sz, record keys…, claim keys…   ARGV: ttl_ms, token, then the ids
# →  {version, blobs (false where absent or claimed by another store: that one moves or forgets it)}
_LUA_REMOVE = _LUA_PRELUDE + r"""
local bump = 1
if purge(tonumber(ARGV[1])) > 0 then bump = 2 end
local n = (#KEYS - 3) / 2
local out, dels, gone = {}, {}, {}
for i = 1, n do
  local holder = redis.call('GET', KEYS[3 + n + i])
  if holder and holder ~= ARGV[2] then
    out[i] = false
  else
    out[i] = redis.call('GET', KEYS[3 + i])
    dels[#dels + 1] = KEYS[3 + i]
    dels[#dels + 1] = KEYS[3 + n + i]
    gone[#gone + 1] = ARGV[2 + i]
  end
end
for lo = 1, #dels, 1000 do
  redis.call('DEL', unpack(dels, lo, math.min(lo + 999, #dels)))
end
for lo = 1, #gone, 1000 do
  local hi = math.min(lo + 999, #gone)
  redis.call('ZREM', IDS, unpack(gone, lo, hi))
  redis.call('HDEL', SZ, unpack(gone, lo, hi))
end
return {redis.call('INCRBY', VER, bump), out}
"""

# KEYS: record keys…, claim keys…   ARGV: token, lease_ms  →  blob per id (false: absent or claimed by another)
# Claiming again with the same token (a driver retry, this store's next maintenance) renews the claim.
_LUA_CLAIM = r"""
local n = #KEYS / 2
local out = {}
for i = 1, n do
  local holder = redis.call('GET', KEYS[n + i])
  local blob = false
  if not holder or holder == ARGV[1] then
    blob = redis.call('GET', KEYS[i])
    if blob then redis.call('SET', KEYS[n + i], ARGV[1], 'PX', ARGV[2]) end
  end
  out[i] = blob
end
return out
"""

# KEYS: ver, ids, sz, record keys…   ARGV: ttl_ms, then the float32 vector bytes per record
_LUA_VECTORS = _LUA_PRELUDE + r"""
local bump = 1
if purge(tonumber(ARGV[1])) > 0 then bump = 2 end
for i = 1, #KEYS - 3 do
  local key = KEYS[3 + i]
  local blob = redis.call('GET', key)
  if blob then
    local vec = ARGV[1 + i]
    local od = struct.unpack('<I2', blob, 30)
    local new = string.sub(blob, 1, 29) .. struct.pack('<I2', #vec / 4) .. string.sub(blob, 32, 63)
                .. vec .. string.sub(blob, 64 + 4 * od)
    redis.call('SET', key, new, 'KEEPTTL')
  end
end
return redis.call('INCRBY', VER, bump)
"""

# KEYS: ver, ids, sz   ARGV: ttl_ms  →  {count, content bytes, raw bytes}
_LUA_STATS = _LUA_PRELUDE + r"""
if purge(tonumber(ARGV[1])) > 0 then redis.call('INCR', VER) end
local c, r = 0, 0
local sizes = redis.call('HVALS', SZ)
for i = 1, #sizes do
  local a, b = struct.unpack('<I4I4', sizes[i])
  c = c + a
  r = r + b
end
return {redis.call('ZCARD', IDS), c, r}
"""

# KEYS: this flush's marker, record keys…   ARGV: marker ttl_ms, then retrievals to add, last_accessed, per record
# (absent records are left absent; a re-sent flush finds its marker and adds nothing: never counted twice;
# no marker when no record exists, so a flush after a clear leaves no key behind)
_LUA_TOUCH = r"""
if redis.call('EXISTS', unpack(KEYS, 2)) == 0 then return 0 end
if not redis.call('SET', KEYS[1], 1, 'NX', 'PX', ARGV[1]) then return 0 end
for i = 2, #KEYS do
  local cur = redis.call('GETRANGE', KEYS[i], 8, 19)
  if #cur == 12 then
    local last, count = struct.unpack('<di4', cur)
    local seen = tonumber(ARGV[2 * i - 1])
    if last > seen then seen = last end
    redis.call('SETRANGE', KEYS[i], 8, struct.pack('<di4', seen, count + tonumber(ARGV[2 * i - 2])))
  end
end
return #KEYS - 1
"""

_SCRIPTS = {"add": _LUA_ADD, "add_plain": _LUA_ADD_PLAIN, "remove": _LUA_REMOVE, "claim": _LUA_CLAIM,
            "vectors": _LUA_VECTORS, "stats": _LUA_STATS, "touch": _LUA_TOUCH}

# what a caller may safely do after a write whose outcome is unknown, per kind of write
_AFTER_STORE = ("they may have been stored (a hung server runs the write when it resumes; a repeated run stores "
                "each id once and counts its size once). Storing the same states again is not safe: that makes "
                "new memory ids, so a memory could exist twice. Once the server answers, store again only those "
                "of this error's memory_ids for which memory_exists() is False")
_AFTER_LEAVE = ("they may have been claimed or removed. Running maintenance again is safe: claims and removals "
                "are idempotent by memory id, and a memory this system claimed but did not finish moving is moved "
                "by its next maintenance, or by any process once the claim lapses")
_AFTER_TOUCH = "the retrieval counts were added once or not at all, never twice; they are not retried"
_AFTER_VECTORS = "the vectors may have been replaced; training again is safe (idempotent by memory id)"


def _tag(agent_id: str) -> str:
    """The agent's hash tag: its id, or an injective hex form when the id could break the tag."""
    if "{" in agent_id or "}" in agent_id or agent_id.startswith("#"):
        return "#" + agent_id.encode("utf-8").hex()
    return agent_id


def _glob_escape(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


_F32 = np.dtype(np.float32)  # a dtype object: np.frombuffer would convert the type on every record


def pack_record(r: MemoryRecord) -> bytes:
    """A record as stored: header, float32 vector (may be empty), content."""
    vec = b"" if r.vector is None else np.asarray(r.vector, dtype=np.float32).tobytes()
    return b"".join((HEADER.pack(len(r.content), r.raw_bytes, r.last_accessed, r.retrieval_count,
                                 r.step_number, TYPE_CODES[r.memory_type], len(vec) >> 2, r.priority,
                                 r.importance, r.created_at, r.entered_at), vec, r.content))


def unpack_record(memory_id: str, agent_id: str, blob: bytes) -> MemoryRecord:
    """A stored blob back to a record (its vector a read-only float32 view, None when absent).

    CorruptDataError naming the memory when the blob cannot be one: shorter than the header, an unknown
    memory type, or lengths that do not add up (header + vector + content = the blob)."""
    try:
        clen, raw, last, count, step, code, dim, pri, imp, created, entered = HEADER.unpack_from(blob)
        mtype = MEMORY_TYPES[code]
    except (struct.error, IndexError, TypeError):
        raise _damaged(memory_id, blob) from None
    o = HEADER.size
    if o + 4 * dim + clen != len(blob):
        raise _damaged(memory_id, blob)
    vec = np.frombuffer(blob, _F32, dim, o) if dim else None
    return MemoryRecord(memory_id, agent_id, step, mtype, blob[o + 4 * dim:], pri, imp,
                        created, entered, last, count, raw, vec)


def _damaged(memory_id: str, blob: bytes) -> StorageError:
    """The error for a blob unpack_record refused, saying what is wrong with it."""
    size = len(blob) if isinstance(blob, (bytes, bytearray, memoryview)) else None
    if size is None:
        why = f"a {type(blob).__name__}, not bytes"
    elif size < HEADER.size:
        why = f"{size} bytes, shorter than the {HEADER.size}-byte header"
    else:
        clen, dim, code = _SIZES.unpack_from(blob)[0], struct.unpack_from("<H", blob, 29)[0], blob[28]
        why = (f"unknown memory type {code}" if code >= len(MEMORY_TYPES) else
               f"{size} bytes, but its header says {HEADER.size} + {4 * dim} (vector) + {clen} (content)")
    return CorruptDataError(f"Redis record of memory {memory_id!r} is damaged: {why}", memory_id=memory_id)


class _Connection:
    """One redis-py client shared by the STM and IM stores of a system; closed with the last of them."""

    def __init__(self, url: str, cluster: bool, timeout: float = SOCKET_TIMEOUT) -> None:
        check_redis_url(url)  # ConfigError (URL masked) for a URL a parser would misread
        self.url = redact(url)
        self._secrets = url_secrets(url)  # scrubbed from every driver message we pass on
        self.cluster = cluster or url.startswith("redis+cluster://")
        real = "redis://" + url[len("redis+cluster://"):] if url.startswith("redis+cluster://") else url
        self._probe(real)
        retry = Retry(ExponentialBackoff(cap=0.25, base=0.025), RETRIES)
        opts = dict(socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=timeout, retry=retry,
                    retry_on_error=[RedisConnectionError, RedisTimeoutError])
        try:
            if self.cluster:
                from redis.cluster import RedisCluster
                self.client = RedisCluster.from_url(real, **opts)
            else:
                self.client = redis.Redis.from_url(real, **opts)
        except (ValueError, TypeError):
            raise self._bad_option() from None
        try:
            self.shas = {name: self.client.script_load(src) for name, src in _SCRIPTS.items()}
        except (*_ERRORS, OSError) as exc:
            raise self.error(exc) from exc
        self.users = 0

    def _probe(self, url: str) -> None:
        """PING once with short timeouts and no retries: an unreachable server fails fast."""
        try:
            probe = redis.Redis.from_url(url, socket_connect_timeout=PROBE_TIMEOUT, socket_timeout=PROBE_TIMEOUT,
                                         retry=Retry(ExponentialBackoff(), 0))
        except (ValueError, TypeError):  # the driver's text may quote a piece of the URL: not passed on
            raise self._bad_option() from None
        try:
            probe.ping()
        except (RedisError, OSError) as exc:
            raise StorageError(f"Redis at {self.url} is unreachable: {self._text(exc)}") from exc
        except TypeError:  # an unknown ?option reaches the connection only now
            raise self._bad_option() from None
        finally:
            probe.close()

    def _bad_option(self) -> ConfigError:
        """The error for a URL the driver refuses (an unknown ?option, a bad value)."""
        return ConfigError(f"redis_url {self.url!r}: the Redis client rejects one of its options or values")

    def _text(self, exc: BaseException) -> str:
        """The driver's message with the URL's secrets masked (in the exception and its causes too,
        so a chained traceback shows no secret either)."""
        seen: set[int] = set()
        cur: Optional[BaseException] = exc
        while cur is not None and id(cur) not in seen and self._secrets:
            seen.add(id(cur))
            cur.args = tuple(scrub(a, self._secrets) if isinstance(a, str) else a for a in cur.args)
            cur = cur.__cause__ or cur.__context__
        return scrub(str(exc), self._secrets)

    def error(self, exc: BaseException) -> StorageError:
        """A driver exception as StorageError naming the (masked) URL."""
        return StorageError(f"Redis at {self.url}: {exc.__class__.__name__}: {self._text(exc)}")

    def eval(self, name: str, keys: Sequence[str], args: Sequence) -> object:
        try:
            return self.client.evalsha(self.shas[name], len(keys), *keys, *args)
        except NoScriptError:  # the server restarted or flushed its script cache
            self.shas[name] = self.client.script_load(_SCRIPTS[name])
            return self.client.evalsha(self.shas[name], len(keys), *keys, *args)

    def release(self) -> None:
        self.users -= 1
        if self.users <= 0:
            try:
                self.client.close()
            except _ERRORS:
                pass


class _ErrorTranslation:
    """A `with` block whose driver errors leave as StorageError naming the (masked) URL: the one place
    that translates them. For a write (`what` given) the error carries `memory_ids`; when the reply was lost
    (timeout, dropped connection) the write may still have been applied, and the message says so and what
    is safe next (`after`)."""

    __slots__ = ("_conn", "_what", "_memory_ids", "_after")

    def __init__(self, conn: _Connection, what: Optional[str] = None, memory_ids: Iterable[str] = (),
                 after: str = "") -> None:
        self._conn = conn
        self._what = what
        self._memory_ids = memory_ids  # listed only when the write fails
        self._after = after

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if exc is not None and isinstance(exc, _ERRORS):  # (`is not None` first: ~30 ns less per clean exit)
            raise self._error(exc) from exc
        return False

    def _error(self, exc: BaseException) -> StorageError:
        """The StorageError for driver error `exc` raised inside the block."""
        err = self._conn.error(exc)
        if self._what is None:
            return err
        memory_ids = list(self._memory_ids)
        if isinstance(exc, _LOST_REPLY):
            n = len(memory_ids)
            shown = ", ".join(repr(m) for m in memory_ids[:3]) + (f" and {n - 3} more" if n > 3 else "")
            err = StorageError(f"{err}; {self._what} {n} memor{'y' if n == 1 else 'ies'} ({shown}): "
                               f"outcome unknown: {self._after}")
        err.memory_ids = tuple(memory_ids)  # type: ignore[attr-defined]
        return err


class RedisStore(MemoryStore):
    """One tier's records on Redis, partitioned by agent (see the module docstring for the layout)."""

    shared = True
    keeps_vectors = True

    def __init__(self, conn: _Connection, namespace: str, tier: str, ttl: Optional[float] = None) -> None:
        self._conn = conn
        self._r = conn.client
        conn.users += 1
        self.url = conn.url
        self.namespace = namespace
        self.tier = tier
        self.ttl_ms = int(round(ttl * 1000)) if ttl else 0  # Redis expiry of each record (0: none)
        self._agents_key = f"{namespace}:{tier}:agents"
        self._prefixes: dict[str, str] = {}
        self._registered: set[str] = set()
        self._touches: dict[str, list] = {}  # memory id -> [retrievals to add, last_accessed]
        self._touched_since = 0.0
        self._closed = False
        self._token = os.urandom(8).hex()  # names this store's claims and flush markers
        self._flushes = itertools.count()
        self.claim_lease = CLAIM_LEASE
        self.corruption = CorruptionLog(f"Redis {redact(conn.url)} {namespace}:{tier}")
        self._read_errors = _ErrorTranslation(conn)  # stateless: every read shares it

    # -- keys ----------------------------------------------------------------------------------
    def _prefix(self, agent_id: str) -> str:
        p = self._prefixes.get(agent_id)
        if p is None:
            p = self._prefixes[agent_id] = f"{self.namespace}:{{{_tag(agent_id)}}}:{self.tier}:"
        return p

    def _base_keys(self, agent_id: str) -> list[str]:
        p = self._prefix(agent_id)
        return [p + "ver", p + "ids", p + "sz"]

    def _translate_errors(self, what: Optional[str] = None, memory_ids: Iterable[str] = (),
                          after: str = "") -> _ErrorTranslation:
        """`with self._translate_errors():` driver errors inside leave as StorageError; a write passes what it
        does ("storing"), the ids it writes and what is safe after an unknown outcome (see _ErrorTranslation)."""
        if what is None:
            return self._read_errors
        return _ErrorTranslation(self._conn, what, memory_ids, after)

    def _record_keys(self, agent_id: str, memory_ids: Sequence[str]) -> list[str]:
        """The record keys of `memory_ids` (all of `agent_id`)."""
        mp = self._prefix(agent_id) + "m:"
        return [mp + s for s in suffixes(memory_ids)]

    def _claim_keys(self, agent_id: str, memory_ids: Sequence[str]) -> list[str]:
        """The record keys, then the claim keys, of `memory_ids` (all of one agent: one slot)."""
        p = self._prefix(agent_id)
        ends = suffixes(memory_ids)
        return [p + "m:" + s for s in ends] + [p + "c:" + s for s in ends]

    def _own_ids(self, agent_id: str, memory_ids: Sequence[str]) -> list[str]:
        """`memory_ids` of `agent_id`, each once, in order (others' or malformed ids dropped)."""
        return of_agent(agent_id, dict.fromkeys(memory_ids))

    # -- the protocol --------------------------------------------------------------------------
    def add(self, records: Sequence[MemoryRecord]) -> int:
        if not records:
            return 0
        agent_id = records[0].agent_id
        p = self._prefix(agent_id)
        mp = p + "m:"
        keys, blobs, ids, sizes = [], [], [], []
        pack_sizes = _SIZES.pack
        for r in records:
            head, suffix = split_id(r.memory_id)
            if head != agent_id or r.agent_id != agent_id:
                raise ValueError(f"memory id {r.memory_id!r} must be '<agent_id>:<suffix>' of agent {agent_id!r}")
            keys.append(mp + suffix)
            blobs.append(pack_record(r))
            ids.append(r.memory_id)
            sizes.append(pack_sizes(len(r.content), r.raw_bytes))
        with self._translate_errors("storing", ids, _AFTER_STORE):
            if agent_id not in self._registered:
                self._r.sadd(self._agents_key, agent_id)
                self._registered.add(agent_id)
            if self.ttl_ms or len(keys) <= LUA_ADD_MAX:  # one script call: TTL tiers always, STM when small
                script, args = ("add", [self.ttl_ms]) if self.ttl_ms else ("add_plain", [])
                for triple in zip(ids, blobs, sizes):
                    args.extend(triple)
                version, count = self._conn.eval(script, [p + "ver", p + "ids", p + "sz", *keys], args)
            else:
                pipe = self._r.pipeline(transaction=True)
                lo = size = 0
                for i, blob in enumerate(blobs):
                    size += len(blob)
                    if size >= MSET_SLICE_BYTES or i + 1 == len(blobs):
                        flat: list = [None] * (2 * (i + 1 - lo))
                        flat[::2], flat[1::2] = keys[lo:i + 1], blobs[lo:i + 1]
                        pipe.execute_command("MSET", *flat)  # (RedisCluster blocks pipe.mset; one slot here)
                        lo, size = i + 1, 0
                pipe.zadd(p + "ids", dict.fromkeys(ids, 0))
                pipe.hset(p + "sz", mapping=dict(zip(ids, sizes)))
                pipe.zcard(p + "ids")
                pipe.incr(p + "ver")
                *_, count, version = pipe.execute()
            if count == len(records):  # the agent-tier was empty: make sure it is listed (after a clear elsewhere)
                self._r.sadd(self._agents_key, agent_id)
        return version

    def get(self, memory_id: str) -> Optional[MemoryRecord]:
        if type(memory_id) is not str:
            return None
        agent_id, suffix = split_id(memory_id)
        if not agent_id:
            return None
        with self._translate_errors():
            blob = self._r.get(self._prefix(agent_id) + "m:" + suffix)
        if blob is None:
            return None
        rec = unpack_record(memory_id, agent_id, blob)
        if self._touches:
            self._overlay(rec)
        return rec

    def get_many(self, memory_ids: Sequence[str]) -> list[Optional[MemoryRecord]]:
        ids = list(memory_ids)
        groups = by_agent(ids)
        out: list[Optional[MemoryRecord]] = [None] * len(ids)
        if not groups:
            return out
        with self._translate_errors():
            if len(groups) == 1:
                (agent_id, rows), = groups.items()
                replies = [self._mget(agent_id, [ids[i] for i in rows])]
            else:
                pipe = self._r.pipeline(transaction=False)
                for agent_id, rows in groups.items():
                    pipe.execute_command("MGET", *self._record_keys(agent_id, [ids[i] for i in rows]))
                replies = pipe.execute()
        touches = self._touches
        for (agent_id, rows), blobs in zip(groups.items(), replies):
            for i, blob in zip(rows, blobs):
                if blob is not None:
                    rec = out[i] = unpack_record(ids[i], agent_id, blob)
                    if touches:
                        self._overlay(rec)
        return out

    def _mget(self, agent_id: str, memory_ids: Sequence[str]) -> list[Optional[bytes]]:
        keys = self._record_keys(agent_id, memory_ids)
        if len(keys) <= 2000:
            return self._r.mget(keys) if keys else []
        pipe = self._r.pipeline(transaction=False)
        for lo in range(0, len(keys), 2000):
            pipe.execute_command("MGET", *keys[lo:lo + 2000])
        return [b for part in pipe.execute() for b in part]

    def _overlay(self, rec: MemoryRecord) -> None:
        pending = self._touches.get(rec.memory_id)
        if pending is not None:
            rec.retrieval_count += pending[0]
            if pending[1] > rec.last_accessed:
                rec.last_accessed = pending[1]

    def touch(self, records: Sequence[MemoryRecord]) -> None:
        """Buffer a retrieval of each record; written (as increments) in batches, not per read."""
        touches = self._touches
        if not touches:
            self._touched_since = time.monotonic()
        for r in records:
            p = touches.get(r.memory_id)
            if p is None:
                touches[r.memory_id] = [1, r.last_accessed]
            else:
                p[0] += 1
                p[1] = r.last_accessed
        if len(touches) >= TOUCH_FLUSH or time.monotonic() - self._touched_since > TOUCH_MAX_AGE:
            self.flush_touches()

    def flush_touches(self) -> None:
        """Write buffered retrieval counts: one atomic increment script per agent."""
        if not self._touches:
            return
        touches, self._touches = self._touches, {}
        groups: dict[str, tuple[list, list]] = {}
        for mid, (delta, last) in touches.items():
            agent_id, suffix = split_id(mid)
            group = groups.get(agent_id)
            if group is None:
                marker = f"{self._prefix(agent_id)}t:{self._token}{next(self._flushes):x}"
                group = groups[agent_id] = ([marker], [MARKER_TTL_MS])
            group[0].append(self._prefix(agent_id) + "m:" + suffix)
            group[1].append(delta)
            group[1].append(repr(last))
        with self._translate_errors("writing the retrieval counts of", touches, _AFTER_TOUCH):
            for keys, args in groups.values():
                self._conn.eval("touch", keys, args)

    def claim(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """Claim records that are leaving this tier: returns those this store now holds (present and not
        claimed by another store; in order). Only these may be moved or forgotten by the caller, who then
        `remove`s them; a claim never removed (a crash) lapses after `claim_lease` seconds."""
        mids = self._own_ids(agent_id, memory_ids)
        if not mids:
            return []
        with self._translate_errors("claiming", mids, _AFTER_LEAVE):
            blobs = self._conn.eval("claim", self._claim_keys(agent_id, mids),
                                    [self._token, max(1, int(self.claim_lease * 1000))])
        out = []
        for mid, blob in zip(mids, blobs):
            if blob:
                rec = unpack_record(mid, agent_id, blob)
                if self._touches:
                    self._overlay(rec)
                out.append(rec)
        return out

    def remove(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """Delete records (and this store's claims on them); records another store claimed are left to it.
        Returns the removed records (a run the driver repeats returns none of those the first run removed)."""
        mids = self._own_ids(agent_id, memory_ids)
        if not mids:
            return []
        keys = self._base_keys(agent_id) + self._claim_keys(agent_id, mids)
        with self._translate_errors("removing", mids, _AFTER_LEAVE):
            version, blobs = self._conn.eval("remove", keys, [self.ttl_ms, self._token, *mids])
        out = []
        touches = self._touches
        for mid, blob in zip(mids, blobs):
            pending = touches.pop(mid, None) if touches else None
            if blob:
                rec = unpack_record(mid, agent_id, blob)
                if pending is not None:
                    rec.retrieval_count += pending[0]
                out.append(rec)
        return out

    def records(self, agent_id: str) -> list[MemoryRecord]:
        self.flush_touches()
        with self._translate_errors():
            ids = [m.decode("utf-8") for m in self._r.zrange(self._prefix(agent_id) + "ids", 0, -1)]
            blobs = self._mget(agent_id, ids)
        return [rec for mid, blob in zip(ids, blobs) if blob is not None
                for rec in self._decoded(mid, agent_id, blob)]

    def _decoded(self, memory_id: str, agent_id: str, blob: bytes) -> list[MemoryRecord]:
        """[the record], or [] for a damaged blob (warned once and counted: a listing skips it)."""
        try:
            return [unpack_record(memory_id, agent_id, blob)]
        except CorruptDataError as exc:
            self.corruption.skip(agent_id, exc)
            return []

    def corrupt_skipped(self, agent_id: Optional[str] = None) -> int:
        """Distinct damaged records `records()` skipped (one agent's, or all)."""
        return self.corruption.count(agent_id)

    def count(self, agent_id: str) -> int:
        with self._translate_errors():
            if not self.ttl_ms:
                return self._r.zcard(self._prefix(agent_id) + "ids")
            return self._conn.eval("stats", self._base_keys(agent_id), [self.ttl_ms])[0]

    def agent_ids(self) -> Iterable[str]:
        with self._translate_errors():
            agents = sorted(m.decode("utf-8") for m in self._r.smembers(self._agents_key))
            if not agents:
                return []
            pipe = self._r.pipeline(transaction=False)
            for a in agents:
                pipe.zcard(self._prefix(a) + "ids")
            counts = pipe.execute()
        return [a for a, n in zip(agents, counts) if n]

    def stored_bytes(self, agent_id: str) -> tuple[int, int]:
        with self._translate_errors():
            _, c, r = self._conn.eval("stats", self._base_keys(agent_id), [self.ttl_ms])
        return int(c), int(r)

    def version(self, agent_id: str) -> int:
        with self._translate_errors():
            v = self._r.get(self._prefix(agent_id) + "ver")
        return int(v) if v is not None else 0

    def update_vectors(self, agent_id: str, memory_ids: Sequence[str], vectors: np.ndarray) -> int:
        vecs = np.asarray(vectors, dtype=np.float32)
        keys = self._base_keys(agent_id) + self._record_keys(agent_id, memory_ids)
        args = [self.ttl_ms] + [v.tobytes() for v in vecs]
        with self._translate_errors("re-embedding", memory_ids, _AFTER_VECTORS):
            return self._conn.eval("vectors", keys, args)

    def clear(self) -> None:
        """Delete this tier's keys in this namespace (SCAN + UNLINK; never FLUSHDB)."""
        self._touches.clear()
        self._registered.clear()
        pattern = f"{_glob_escape(self.namespace)}:{{*}}:{self.tier}:*"
        with self._translate_errors():
            batch: list = []
            for key in self._r.scan_iter(match=pattern, count=1000):
                batch.append(key)
                if len(batch) >= 1000:
                    self._r.unlink(*batch)
                    batch = []
            if batch:
                self._r.unlink(*batch)
            self._r.unlink(self._agents_key)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.flush_touches()
        except StorageError:
            pass
        finally:
            self._conn.release()


def im_expiry_grace(ttl: float) -> float:
    """How long past its TTL an IM record survives in Redis, waiting for maintenance to move it to LTM."""
    return min(max(0.1 * ttl, 1.0), 600.0)


def create_redis_stores(config, im_grace: Optional[float] = None) -> tuple[RedisStore, RedisStore]:
    """The STM and IM stores of a system on `config.redis_url` (a cluster when asked), in `config.namespace`."""
    conn = _Connection(config.redis_url, bool(config.redis_cluster), float(config.redis_timeout))
    ttl = config.im_config.ttl
    grace = im_expiry_grace(ttl) if im_grace is None else im_grace
    return (RedisStore(conn, config.namespace, "stm"),
            RedisStore(conn, config.namespace, "im", ttl=ttl + grace))
