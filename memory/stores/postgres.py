"""The LTM store on a PostgreSQL server (psycopg 3): one memory for agents on many hosts.

Same behaviour as the SQLite file: rows of compressed content with float32 embeddings (bytea), a
(namespace, agent_id, step_number) index answering step ranges, a per-agent version row that every write
increments (so each process rebuilds its in-process index only when another wrote), the LTM codec's
write-once numbered dictionaries and the autoencoder weights. Every row is keyed by `namespace`: simulations
sharing a database never see each other, and `clear()` deletes only its own namespace's memories.

Tables (created on first use under an advisory lock; `agentmemory_schema` holds their version, and a
database of a newer version than this code knows is refused):

    agentmemory_ltm               (namespace, memory_id) primary key; index (namespace, agent_id, step_number)
    agentmemory_ltm_versions      (namespace, agent_id) -> version
    agentmemory_ltm_meta          (namespace, key) -> value (ltm_dim, autoencoder weights)
    agentmemory_ltm_dictionaries  (namespace, number) -> data (write-once)

`delete_namespaces(url, namespaces)` removes namespaces from all four (the cleanup of benchmark runs).

Writes are atomic, and all but large batches one statement (one round trip): the agent's version row is
bumped first (which serializes one agent's writers, so they never deadlock), then rows are inserted `ON CONFLICT DO NOTHING`
(two processes moving the same memory leave one row) or deleted `RETURNING` the rows (a memory removed by
two processes at once is returned to exactly one). A batch of COPY_MIN rows or more is streamed with
COPY (binary), in one transaction with the version bump: straight into the table, or, when some of its
ids are stored already, into a temporary table first and inserted from there skipping those.

Failures: an unreachable server is a StorageError naming the URL (password masked) after at most
CONNECT_TIMEOUT seconds; a dropped connection is reconnected up to RETRIES times, then StorageError. No
call hangs: the server cancels statements after `timeout` seconds, TCP keepalives and tcp_user_timeout
drop a dead peer, and a watchdog shuts the socket of a call still waiting 2 * timeout + 1 s later.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Optional, Sequence, TypeVar

import numpy as np

from ..config import redact, scrub, url_secrets  # redact: the one URL-masking function
from ..entry import MemoryRecord
from ..errors import ConfigError, CorruptDataError, StorageError
from .ltm import COLUMNS, LTMStore, record_row

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg.conninfo import conninfo_to_dict
except ImportError:  # pragma: no cover - the optional extra
    psycopg = None

SCHEMA_VERSION = 1
SCHEMA_LOCK = 0x61676D656D  # the advisory lock key under which the tables are created ("agmem")
CONNECT_TIMEOUT = 2     # seconds (libpq's minimum) before an unreachable server is a StorageError
TIMEOUT = 30.0          # default statement timeout, seconds
RETRIES = 2             # reconnects after a dropped connection (or retries after a deadlock), then StorageError
COPY_MIN = 128          # batches of at least this many rows go through COPY, smaller ones one INSERT (equal at ~64)

T = "agentmemory_ltm"
#: Every table holding a namespace's rows (all keyed by `namespace`): deleting from these removes it entirely.
NAMESPACE_TABLES = (T, f"{T}_versions", f"{T}_meta", f"{T}_dictionaries")
_COPY_TYPES = ("text", "text", "int8", "text", "bytea", "float8", "float8", "float8", "float8", "float8",
               "int8", "int8", "bytea")
_DDL = f"""
CREATE TABLE IF NOT EXISTS agentmemory_schema (component text PRIMARY KEY, version integer NOT NULL);
CREATE TABLE IF NOT EXISTS {T} (
    namespace text COLLATE "C" NOT NULL, memory_id text COLLATE "C" NOT NULL,
    agent_id text COLLATE "C" NOT NULL, step_number bigint NOT NULL, memory_type text NOT NULL,
    content bytea NOT NULL, priority double precision NOT NULL, importance double precision NOT NULL,
    created_at double precision NOT NULL, entered_at double precision NOT NULL,
    last_accessed double precision NOT NULL, retrieval_count bigint NOT NULL, raw_bytes bigint NOT NULL,
    embedding bytea, PRIMARY KEY (namespace, memory_id));
ALTER TABLE {T} ALTER COLUMN content SET STORAGE EXTERNAL;  -- deflated already: no second compression
CREATE INDEX IF NOT EXISTS {T}_agent_step ON {T} (namespace, agent_id, step_number);
CREATE TABLE IF NOT EXISTS {T}_versions (namespace text COLLATE "C" NOT NULL, agent_id text COLLATE "C" NOT NULL,
    version bigint NOT NULL, PRIMARY KEY (namespace, agent_id));
CREATE TABLE IF NOT EXISTS {T}_meta (namespace text COLLATE "C" NOT NULL, key text COLLATE "C" NOT NULL,
    value bytea NOT NULL, PRIMARY KEY (namespace, key));
CREATE TABLE IF NOT EXISTS {T}_dictionaries (namespace text COLLATE "C" NOT NULL, number integer NOT NULL,
    data bytea NOT NULL, PRIMARY KEY (namespace, number));
INSERT INTO agentmemory_schema VALUES ('ltm', {SCHEMA_VERSION}) ON CONFLICT DO NOTHING;
"""
# every write starts by bumping the agent's version row (CTE `v`); the statement that follows reads `v`,
# so the row lock is taken before any memory row is touched
_BUMP = (f"WITH v AS (INSERT INTO {T}_versions AS t VALUES (%(ns)s, %(agent)s, 1) ON CONFLICT (namespace, agent_id) "
         "DO UPDATE SET version = t.version + 1 RETURNING version)")
_ARRAYS = ("%(ids)b::text[], %(agents)b::text[], %(steps)b::int8[], %(types)b::text[], %(contents)b::bytea[], "
           "%(pri)b::float8[], %(imp)b::float8[], %(created)b::float8[], %(entered)b::float8[], "
           "%(last)b::float8[], %(counts)b::int8[], %(raw)b::int8[], %(embs)b::bytea[]")
_ARRAY_KEYS = ("ids", "agents", "steps", "types", "contents", "pri", "imp", "created", "entered", "last",
               "counts", "raw", "embs")
_INSERT = f"INSERT INTO {T} (namespace, {COLUMNS}) SELECT %(ns)s, b.* FROM v, "
_SELECT = f"SELECT {COLUMNS} FROM {T} WHERE namespace = %(ns)s"
_R = TypeVar("_R")


def _storable(text: str) -> bool:
    """Whether PostgreSQL text can hold `text` (no NUL): an id with a NUL is never stored, so never found."""
    return "\x00" not in text


def _driver_text(exc: BaseException, secrets: Sequence[str]) -> str:
    """A driver message on one line, with every form of the URL's password (`secrets`) masked."""
    return " ".join(scrub(str(exc), secrets).split()) or type(exc).__name__


def delete_namespaces(url: str, namespaces: Sequence[str], connect_timeout: float = CONNECT_TIMEOUT) -> int:
    """Delete every row of `namespaces` from all LTM tables (NAMESPACE_TABLES) at `url`; return how many (tables
    not created yet count 0). The cleanup of what a killed process left; StorageError (URL masked) on failure."""
    if psycopg is None:
        raise ConfigError("deleting PostgreSQL namespaces needs psycopg 3: pip install 'agentmemory[postgres]'")
    wanted = [ns for ns in namespaces if _storable(ns)]
    if not wanted:
        return 0
    timeout = max(2, round(connect_timeout))  # libpq's minimum: it never waits less (0 would wait forever)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=timeout) as conn:
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (str(int(TIMEOUT * 1000)),))
            tables = [t for t in NAMESPACE_TABLES if conn.execute("SELECT to_regclass(%s)", (t,)).fetchone()[0]]
            return sum(conn.execute(f"DELETE FROM {t} WHERE namespace = ANY(%s)", (wanted,)).rowcount for t in tables)
    except psycopg.Error as exc:
        raise StorageError(f"PostgreSQL at {redact(url)}: could not delete the rows of {len(wanted)} "
                           f"namespace(s): {_driver_text(exc, url_secrets(url))}") from None


class PostgresStore(LTMStore):
    """LTM rows of one namespace on a PostgreSQL server; see the module docstring."""

    shared = True

    def __init__(self, url: str, dim: int, namespace: str, timeout: float = TIMEOUT) -> None:
        self.url = redact(url)
        super().__init__(dim, f"LTM on PostgreSQL {self.url} (namespace {namespace!r})")
        if psycopg is None:
            raise ConfigError("ltm_backend='postgres' needs psycopg 3: pip install 'agentmemory[postgres]'")
        self.namespace = namespace
        self.timeout = float(timeout)
        self._url = url
        self._secrets = url_secrets(url)
        self._lock = threading.RLock()
        self._conn: Optional[psycopg.Connection] = None
        self._copy_table = False  # the connection's temporary COPY table exists
        self._busy_since = 0.0    # monotonic start of the call in progress (0: none), for the watchdog
        self._closed = False
        self._options = self._connect_options(url)
        self._conn = self._connect()
        try:
            self._run(self._open)
        except BaseException:
            self._closed = True
            self._drop()
            raise
        _Watchdog.watch(self)

    # -- connecting ---------------------------------------------------------------------------
    def _connect_options(self, url: str) -> dict[str, Any]:
        """libpq parameters added to the URL's: timeouts, keepalives (the URL's own `options` come last, so win)."""
        try:
            given = conninfo_to_dict(url)
        except psycopg.Error as exc:
            raise ConfigError(f"ltm_url is not a PostgreSQL URL libpq accepts: {self._text(exc)}; "
                              f"got {self.url!r}") from None
        ms = max(1, int(self.timeout * 1000))
        options = f"-c statement_timeout={ms} -c idle_in_transaction_session_timeout={2 * ms + 1000}"
        return {"connect_timeout": CONNECT_TIMEOUT, "keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                "keepalives_count": 3, "tcp_user_timeout": 2 * ms + 1000, "application_name": "agentmemory",
                "options": f"{options} {given.get('options', '')}".strip()}

    def _connect(self) -> "psycopg.Connection":
        """A new autocommit connection; StorageError naming the (masked) URL when the server cannot be reached."""
        try:
            conn = psycopg.connect(self._url, autocommit=True, **self._options)
        except psycopg.Error as exc:
            raise StorageError(f"PostgreSQL at {self.url} is unreachable: {self._text(exc)}") from None
        self._copy_table = False
        return conn

    def _text(self, exc: BaseException) -> str:
        """A driver message on one line, with every form of the URL's password masked."""
        return _driver_text(exc, self._secrets)

    def _run(self, fn: Callable[["psycopg.Connection"], _R]) -> _R:
        """`fn(connection)` under the lock. A dropped connection is reconnected and `fn` run again (as after a
        deadlock), at most RETRIES times, then StorageError; other driver errors leave as StorageError at once.
        Every `fn` may run twice: the writes are idempotent (a retried insert finds its rows and skips them)."""
        with self._lock:
            failures = 0
            while True:
                try:
                    conn = self._conn
                    if conn is None:
                        if self._closed:
                            raise StorageError(f"{self.where}: the store is closed")
                        conn = self._conn = self._connect()
                    self._busy_since = time.monotonic()
                    try:
                        return fn(conn)
                    finally:
                        self._busy_since = 0.0
                except psycopg.Error as exc:
                    lost = self._conn is None or self._conn.broken or self._conn.closed
                    if not lost and not isinstance(exc, (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)):
                        raise StorageError(f"{self.where}: {type(exc).__name__}: {self._text(exc)}") from None
                    if lost:
                        self._drop()
                    error = f"{'connection lost' if lost else 'transaction aborted'}: {type(exc).__name__}: " \
                            f"{self._text(exc)}"
                except StorageError as exc:  # reconnecting failed
                    if self._closed:
                        raise
                    error = str(exc)
                failures += 1
                if failures > RETRIES:
                    raise StorageError(f"{self.where}: gave up after {RETRIES} retries; last: {error}") from None
                time.sleep(0.05 * 2 ** failures)

    def _drop(self) -> None:
        """Forget a broken connection (the next call reconnects)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def _abort_hung_call(self, now: float) -> None:
        """The watchdog's check: shut the socket of a call waiting past 2 * timeout + 1 s (a frozen server
        whose kernel still acknowledges packets), so the call fails, reconnects or raises; never hangs."""
        started, conn = self._busy_since, self._conn
        if started and conn is not None and now - started > 2 * self.timeout + 1.0:
            try:
                with socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock:
                    sock.shutdown(socket.SHUT_RDWR)
            except (OSError, psycopg.Error):
                pass

    def _open(self, conn: "psycopg.Connection") -> None:
        """Create the tables unless they exist (under an advisory lock), refuse a newer schema, check ltm_dim."""
        version = self._schema_version(conn)
        if version is None:
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
                conn.execute(_DDL)
            version = self._schema_version(conn)
        if type(version) is not int or version > SCHEMA_VERSION:
            raise StorageError(f"{self.where}: the database's LTM schema is version {version}, newer than this "
                               f"agentmemory knows ({SCHEMA_VERSION}): upgrade agentmemory, or use another database")
        conn.execute(f"INSERT INTO {T}_meta VALUES (%s, 'ltm_dim', %s) ON CONFLICT DO NOTHING",
                     (self.namespace, str(int(self.dim)).encode()))
        stored = self._meta(conn, "ltm_dim")
        try:
            stored_dim = int(stored.decode("ascii"))
        except (AttributeError, UnicodeDecodeError, ValueError):
            raise CorruptDataError(f"{self.where}: meta 'ltm_dim' is damaged ({stored!r})") from None
        if stored_dim != self.dim:
            raise StorageError(f"{self.where} holds {stored_dim}-dim embeddings; this config uses ltm_dim={self.dim}")

    @staticmethod
    def _schema_version(conn: "psycopg.Connection") -> Optional[int]:
        try:
            row = conn.execute("SELECT version FROM agentmemory_schema WHERE component = 'ltm'").fetchone()
        except pg_errors.UndefinedTable:
            return None
        return None if row is None else row[0]

    # -- meta values and the LTM codec's dictionaries -------------------------------------------
    def _meta(self, conn: "psycopg.Connection", key: str) -> Optional[bytes]:
        row = conn.execute(f"SELECT value FROM {T}_meta WHERE namespace = %s AND key = %s",
                           (self.namespace, key), binary=True).fetchone()
        return None if row is None else row[0]

    def get_meta(self, key: str) -> Optional[bytes]:
        """A value of this namespace (encoder weights), or None."""
        return self._run(lambda conn: self._meta(conn, key))

    def set_meta(self, key: str, value: bytes) -> None:
        """Store a value of this namespace (replacing any)."""
        self._run(lambda conn: conn.execute(
            f"INSERT INTO {T}_meta VALUES (%s, %s, %s) ON CONFLICT (namespace, key) DO UPDATE SET value = EXCLUDED.value",
            (self.namespace, key, bytes(value))))

    def current_dictionary(self) -> Optional[tuple[int, bytes]]:
        row = self._run(self._newest_dictionary)
        return None if row is None else self._dictionary_row(row)

    def _newest_dictionary(self, conn: "psycopg.Connection") -> Optional[tuple]:
        return conn.execute(f"SELECT number, data FROM {T}_dictionaries WHERE namespace = %s "
                            "ORDER BY number DESC LIMIT 1", (self.namespace,), binary=True).fetchone()

    def dictionary(self, number: int) -> Optional[bytes]:
        row = self._run(lambda conn: conn.execute(
            f"SELECT number, data FROM {T}_dictionaries WHERE namespace = %s AND number = %s",
            (self.namespace, number), binary=True).fetchone())
        return None if row is None else self._dictionary_row(row)[1]

    def agree_dictionary(self, proposal: bytes) -> tuple[int, bytes]:
        """Store dictionary 1 unless one exists, then read the winner back (a fresh snapshot: a concurrent
        first writer's row, which made our insert do nothing, is visible by then)."""
        def agree(conn: "psycopg.Connection") -> Optional[tuple]:
            conn.execute(f"INSERT INTO {T}_dictionaries VALUES (%s, 1, %s) ON CONFLICT DO NOTHING",
                         (self.namespace, bytes(proposal)))
            return self._newest_dictionary(conn)
        return self._dictionary_row(self._run(agree))

    # -- the protocol --------------------------------------------------------------------------
    def add(self, records: Sequence[MemoryRecord]) -> int:
        """Insert records of one agent, skipping ids already stored (a move is idempotent); one statement."""
        if not records:
            return 0
        rows = [record_row(r) for r in records]
        args = {"ns": self.namespace, "agent": records[0].agent_id}
        if len(rows) < COPY_MIN:
            args.update(zip(_ARRAY_KEYS, map(list, zip(*rows))))
            return self._run(lambda conn: conn.execute(
                f"{_BUMP}, ins AS ({_INSERT} unnest({_ARRAYS}) AS b ON CONFLICT DO NOTHING) SELECT version FROM v",
                args).fetchone()[0])
        return self._run(lambda conn: self._copy_in(conn, rows, args))

    def _copy_in(self, conn: "psycopg.Connection", rows: list[tuple], args: dict) -> int:
        """`add` of a large batch: COPY (binary) straight into the table; when some ids are stored already
        (a retried or raced move: the COPY fails and rolls back), COPY into the connection's temporary
        table and INSERT from it, skipping those."""
        try:
            return self._copy(conn, rows, args, direct=True)
        except pg_errors.UniqueViolation:
            return self._copy(conn, rows, args, direct=False)

    def _copy(self, conn: "psycopg.Connection", rows: list[tuple], args: dict, direct: bool) -> int:
        with conn.transaction(), conn.cursor() as cur:
            version = cur.execute(f"{_BUMP} SELECT version FROM v", args).fetchone()[0]  # first: see _BUMP
            if not direct and not self._copy_table:
                cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {T}_batch ON COMMIT DELETE ROWS AS "
                            f"SELECT {COLUMNS} FROM {T} WITH NO DATA")
                self._copy_table = True
            table = f"{T} (namespace, {COLUMNS})" if direct else f"{T}_batch ({COLUMNS})"
            with cur.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                if direct:
                    copy.set_types(("text", *_COPY_TYPES))
                    ns = (self.namespace,)
                    for row in rows:
                        copy.write_row(ns + row)
                else:
                    copy.set_types(_COPY_TYPES)
                    for row in rows:
                        copy.write_row(row)
            if not direct:
                cur.execute(f"INSERT INTO {T} (namespace, {COLUMNS}) SELECT %(ns)s, b.* FROM {T}_batch b "
                            "ON CONFLICT DO NOTHING", args)
        return version

    def _select(self, where: str, args: dict) -> list[tuple]:
        return self._run(lambda conn: conn.execute(f"{_SELECT} {where}", {"ns": self.namespace, **args},
                                                   binary=True).fetchall())

    def get(self, memory_id: str) -> Optional[MemoryRecord]:
        if not _storable(memory_id):
            return None
        rows = self._select("AND memory_id = %(id)s", {"id": memory_id})
        return self._record(rows[0]) if rows else None

    def get_many(self, memory_ids: Sequence[str]) -> list[Optional[MemoryRecord]]:
        ids = list(memory_ids)
        wanted = [m for m in ids if _storable(m)]
        rows = self._select("AND memory_id = ANY(%(ids)b::text[])", {"ids": wanted}) if wanted else []
        found = {row[0]: self._record(row) for row in rows}
        return [found.get(m) for m in ids]

    def flush_touches(self) -> None:
        """Write pending retrieval counts (kept in memory between flushes to spare a round trip per read)."""
        if not self._touched:
            return
        counts, lasts, ids = (list(c) for c in zip(*self._take_touches()))
        self._run(lambda conn: conn.execute(
            f"UPDATE {T} m SET retrieval_count = u.c, last_accessed = u.t FROM unnest(%(ids)b::text[], "
            "%(counts)b::int8[], %(lasts)b::float8[]) AS u(id, c, t) WHERE m.namespace = %(ns)s AND m.memory_id = u.id",
            {"ns": self.namespace, "ids": ids, "counts": counts, "lasts": lasts}))

    def remove(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """Delete these memories of `agent_id`; return the ones this call deleted (DELETE ... RETURNING: when
        processes remove the same memory at once, exactly one gets it back)."""
        ids = [m for m in memory_ids if _storable(m)]
        if not _storable(agent_id):
            return []
        rows = self._run(lambda conn: conn.execute(
            f"{_BUMP}, d AS (DELETE FROM {T} m USING v WHERE m.namespace = %(ns)s AND m.agent_id = %(agent)s "
            f"AND m.memory_id = ANY(%(ids)b::text[]) RETURNING {COLUMNS}) SELECT * FROM d",
            {"ns": self.namespace, "agent": agent_id, "ids": ids}, binary=True).fetchall())
        return self._removed(rows)  # damaged rows of the agent went too: they were asked for

    def records(self, agent_id: str) -> list[MemoryRecord]:
        if not _storable(agent_id):
            return []
        return self._records(self._select("AND agent_id = %(agent)s ORDER BY step_number", {"agent": agent_id}))

    def records_in_steps(self, agent_id: str, start: int, end: int) -> list[MemoryRecord]:
        """Records with start <= step <= end, by step (on the (namespace, agent_id, step_number) index)."""
        if not _storable(agent_id):
            return []
        return self._records(self._select(
            "AND agent_id = %(agent)s AND step_number BETWEEN %(lo)s AND %(hi)s ORDER BY step_number",
            {"agent": agent_id, "lo": start, "hi": end}))

    def _value(self, query: str, agent_id: str) -> Any:
        """The one value of a query on this namespace and agent."""
        return self._run(lambda conn: conn.execute(query, {"ns": self.namespace, "agent": agent_id}).fetchone()[0])

    def count(self, agent_id: str) -> int:
        if not _storable(agent_id):
            return 0
        return int(self._value(f"SELECT count(*) FROM {T} WHERE namespace = %(ns)s AND agent_id = %(agent)s", agent_id))

    def agent_ids(self) -> Iterable[str]:
        """Agents with a record here (found through the version rows: one index probe per agent)."""
        rows = self._run(lambda conn: conn.execute(
            f"SELECT agent_id FROM {T}_versions v WHERE namespace = %s AND EXISTS "
            f"(SELECT 1 FROM {T} m WHERE m.namespace = v.namespace AND m.agent_id = v.agent_id)",
            (self.namespace,)).fetchall())
        return [r[0] for r in rows]

    def stored_bytes(self, agent_id: str) -> tuple[int, int]:
        if not _storable(agent_id):
            return 0, 0
        row = self._run(lambda conn: conn.execute(
            f"SELECT COALESCE(SUM(octet_length(content)), 0), COALESCE(SUM(raw_bytes), 0) FROM {T} "
            "WHERE namespace = %(ns)s AND agent_id = %(agent)s", {"ns": self.namespace, "agent": agent_id}).fetchone())
        return int(row[0]), int(row[1])

    def version(self, agent_id: str) -> int:
        if not _storable(agent_id):
            return 0
        rows = self._run(lambda conn: conn.execute(
            f"SELECT version FROM {T}_versions WHERE namespace = %(ns)s AND agent_id = %(agent)s",
            {"ns": self.namespace, "agent": agent_id}).fetchall())
        return rows[0][0] if rows else 0

    def update_vectors(self, agent_id: str, memory_ids: Sequence[str], vectors: np.ndarray) -> int:
        embs = [np.asarray(v, dtype=np.float32).tobytes() for v in vectors]
        return self._run(lambda conn: conn.execute(
            f"{_BUMP}, u AS (UPDATE {T} m SET embedding = u.e FROM v, unnest(%(ids)b::text[], %(embs)b::bytea[]) "
            "AS u(id, e) WHERE m.namespace = %(ns)s AND m.memory_id = u.id) SELECT version FROM v",
            {"ns": self.namespace, "agent": agent_id, "ids": list(memory_ids), "embs": embs}).fetchone()[0])

    def clear(self) -> None:
        """Delete this namespace's memories (its meta values and dictionaries stay, as in the SQLite file) and
        bump every version of it, so other processes rebuild their indexes."""
        self._touched.clear()
        self._run(lambda conn: conn.execute(
            f"WITH d AS (DELETE FROM {T} WHERE namespace = %(ns)s) "
            f"UPDATE {T}_versions SET version = version + 1 WHERE namespace = %(ns)s", {"ns": self.namespace}))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self.flush_touches()
            except StorageError:
                pass
            self._closed = True
            self._drop()


class _Watchdog:
    """One daemon thread per process that aborts calls of open stores hung past their bound (see
    PostgresStore._abort_hung_call); it holds the stores weakly and checks twice a second."""

    _stores: "weakref.WeakSet[PostgresStore]" = weakref.WeakSet()
    _thread: Optional[threading.Thread] = None
    _pid = 0
    _guard = threading.Lock()

    @classmethod
    def watch(cls, store: PostgresStore) -> None:
        with cls._guard:
            cls._stores.add(store)
            if cls._thread is None or cls._pid != os.getpid():  # a forked child has no thread: start its own
                cls._pid = os.getpid()
                cls._thread = threading.Thread(target=cls._loop, name="agentmemory-pg-watchdog", daemon=True)
                cls._thread.start()

    @classmethod
    def _loop(cls) -> None:
        while True:
            time.sleep(0.5)
            now = time.monotonic()
            for store in list(cls._stores):
                if not store._closed:
                    store._abort_hung_call(now)
