"""PostgreSQL for tests: a server found (or the test skipped, saying why), a namespace per test, LTM backends.

tests/conftest.py loads this module as a plugin (`pytest_plugins`), so every test sees its fixtures
(postgres_url, pg_namespace, pg_schema_url, ltm_backend, make_ltm_system); import only its helpers.

Server: $AGENTMEMORY_TEST_POSTGRES_URL if set (the test fails if it does not answer); else
postgresql://postgres@127.0.0.1:5432/test if it answers; else every test that needs one is skipped with
the reason. Each namespace a test used is deleted at teardown from every table, and checked empty.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from typing import Any, Callable, Iterator, Optional

import pytest

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
TABLES = ("agentmemory_ltm", "agentmemory_ltm_versions", "agentmemory_ltm_meta", "agentmemory_ltm_dictionaries")

__all__ = ["DEFAULT_URL", "TABLES", "postgres_answers", "pg_execute", "namespace_rows", "drop_namespace",
           "unique_namespace", "TcpProxy", "postgres_url", "pg_namespace", "pg_schema_url", "ltm_backend",
           "make_ltm_system"]


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "postgres: needs a PostgreSQL server (found by the fixture, else skipped)")


def postgres_answers(url: str, timeout: int = 2) -> Optional[str]:
    """None when a server answers `select 1` at `url`, else why not (one line)."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'agentmemory[postgres]')"
    try:
        with psycopg.connect(url, connect_timeout=timeout, autocommit=True) as conn:
            conn.execute("SELECT 1")
        return None
    except Exception as exc:
        from memory.config import redact
        return f"no PostgreSQL at {redact(url)}: {' '.join(str(exc).split())}"


def pg_execute(url: str, sql: str, args: Any = None) -> list[tuple]:
    """Run one statement on its own autocommit connection; its rows (none for a statement without)."""
    import psycopg
    with psycopg.connect(url, autocommit=True, connect_timeout=2) as conn:
        cur = conn.execute(sql, args)
        return cur.fetchall() if cur.description else []


def namespace_rows(url: str, namespace: str) -> dict[str, int]:
    """Rows of `namespace` per agentmemory table (tables that do not exist yet count 0)."""
    out = {}
    for table in TABLES:
        exists = pg_execute(url, "SELECT to_regclass(%s) IS NOT NULL", (table,))[0][0]
        out[table] = pg_execute(url, f"SELECT count(*) FROM {table} WHERE namespace = %s", (namespace,))[0][0] \
            if exists else 0
    return out


def drop_namespace(url: str, namespace: str) -> None:
    """Delete every row of `namespace` (memories, versions, meta, dictionaries); assert none is left."""
    for table, n in namespace_rows(url, namespace).items():
        if n:
            pg_execute(url, f"DELETE FROM {table} WHERE namespace = %s", (namespace,))
    left = {t: n for t, n in namespace_rows(url, namespace).items() if n}
    assert not left, f"namespace {namespace} left rows behind: {left}"


def unique_namespace(prefix: str = "amtest") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL server for the session: the env URL, else the local one; skipped (saying why) without."""
    env = os.environ.get("AGENTMEMORY_TEST_POSTGRES_URL", "").strip()
    if env:
        why = postgres_answers(env)
        if why:
            pytest.fail(f"AGENTMEMORY_TEST_POSTGRES_URL: {why}")
        return env
    why = postgres_answers(DEFAULT_URL)
    if why:
        pytest.skip(f"{why} (set AGENTMEMORY_TEST_POSTGRES_URL to a server to run the PostgreSQL tests)")
    return DEFAULT_URL


@pytest.fixture
def pg_namespace(postgres_url) -> Iterator[str]:
    """A namespace of its own for one test; every row of it is deleted after (and checked gone)."""
    ns = unique_namespace()
    yield ns
    drop_namespace(postgres_url, ns)


@pytest.fixture
def pg_schema_url(postgres_url) -> Iterator[str]:
    """The server's URL with its own PostgreSQL schema first on the search path (tables of its own, for tests
    that change what every namespace shares, as the schema-version row); the schema is dropped after."""
    schema = "amtest_" + uuid.uuid4().hex[:12]
    pg_execute(postgres_url, f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    finally:
        pg_execute(postgres_url, f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ltm_backend(request) -> str:
    """The LTM backend a test runs on: the SQLite file or a PostgreSQL server."""
    return request.param


@pytest.fixture
def make_ltm_system(request, ltm_backend, tmp_path) -> Iterator[Callable[..., Any]]:
    """make_ltm_system(namespace=None, **config fields, stm_limit=…, im_limit=…, ltm_limit=…,
    cleanup_interval=…) → a system whose LTM is on `ltm_backend`.

    A namespace is one LTM: on PostgreSQL the rows under that namespace, on SQLite one file per namespace
    (so systems built with the same namespace share an LTM on either backend). `build.config(...)` makes
    the config without the system (for other processes). Every system is closed after the test; on
    PostgreSQL each namespace used is cleared and then deleted from every table (checked gone)."""
    from config_overrides import apply_overrides
    from memory import AgentMemorySystem, MemoryConfig
    url = request.getfixturevalue("postgres_url") if ltm_backend == "postgres" else None
    default_ns = unique_namespace()
    built: list[Any] = []
    namespaces: list[str] = []

    def config(namespace: Optional[str] = None, *, stm_limit: Optional[int] = None, im_limit: Optional[int] = None,
               ltm_limit: Optional[int] = None, cleanup_interval: Optional[int] = None, **fields: Any) -> Any:
        ns = namespace or default_ns
        if ns not in namespaces:
            namespaces.append(ns)
        c = MemoryConfig(**fields)
        c.namespace = ns
        if url is not None:
            c.ltm_backend, c.ltm_url = "postgres", url
        else:
            c.ltm_config.db_path = str(tmp_path / f"{ns}.db")
        return apply_overrides(c, stm_limit=stm_limit, im_limit=im_limit, ltm_limit=ltm_limit,
                               cleanup_interval=cleanup_interval)

    def build(namespace: Optional[str] = None, **kwargs: Any) -> Any:
        system = AgentMemorySystem(config(namespace, **kwargs))
        built.append(system)
        return system

    build.config = config  # type: ignore[attr-defined]
    build.backend = ltm_backend  # type: ignore[attr-defined]
    build.url = url  # type: ignore[attr-defined]
    yield build
    for system in built:
        system.close()
    if url is not None:
        for ns in namespaces:
            drop_namespace(url, ns)


class TcpProxy:
    """A loopback TCP proxy to `host:port` for fault tests: `freeze()` stops forwarding (the sockets stay
    open, as with a frozen server), `stop()` closes every connection and refuses new ones."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.frozen = threading.Event()
        self.stopped = threading.Event()
        self.sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.frozen.is_set():  # accepted, never answered: a connect that times out
                with self._lock:
                    self.sockets.append(client)
                continue
            try:
                server = socket.create_connection(self.target, timeout=2)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                while self.frozen.is_set() and not self.stopped.is_set():
                    self.stopped.wait(0.05)
                if self.stopped.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def freeze(self) -> None:
        self.frozen.set()

    def stop(self) -> None:
        self.stopped.set()
        self.listener.close()
        with self._lock:
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
