"""Redis for tests: a server (found or started), a three-node cluster, a namespace per test, backends.

tests/conftest.py loads this module as a plugin (`pytest_plugins`), so every test sees its fixtures
(redis_url, redis_cluster_url, backend, ...) and a session fixture is built once per session; import
only its helpers (`from redis_fixtures import seed_state, ...`).

Server: $AGENTMEMORY_TEST_REDIS_URL if set; else 127.0.0.1:6379 if it answers PING; else a
`redis-server --save "" --appendonly no` started on a free loopback port for the session (skipped
when redis-server is not installed). Each namespace fixture checks at teardown that no key of its
namespace is left behind.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Any, Callable, Iterator, Optional

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"

__all__ = ["redis_url", "redis_cluster_url", "redis_namespace", "backend", "make_backend_system",
           "RedisServer", "start_redis_server", "free_port", "ping", "namespace_keys", "seed_state",
           "unique_namespace"]


def free_port() -> int:
    """A TCP port nothing listens on right now (loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(url: str, timeout: float = 0.5) -> bool:
    """Whether a Redis server answers PING at `url`."""
    import redis
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        try:
            for candidate in (port, port + 10000):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port pair for a cluster node")


class RedisServer:
    """A redis-server process on loopback, with its own temporary directory; `stop()` removes both."""

    def __init__(self, port: int, *extra: str) -> None:
        self.port = port
        self.dir = tempfile.mkdtemp(prefix="agentmemory-redis-")
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir, "--logfile", os.path.join(self.dir, "redis.log"), *extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not ping(self.url, 0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"redis-server on port {port} did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def start_redis_server(*extra: str) -> RedisServer:
    """A fresh redis-server on a free loopback port (skips the test when redis-server is missing)."""
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed")
    return RedisServer(free_port(), *extra)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server for the session: env URL, else a local one on 6379, else one we start."""
    env = os.environ.get("AGENTMEMORY_TEST_REDIS_URL", "").strip()
    if env:
        if not ping(env, 2.0):
            pytest.fail(f"AGENTMEMORY_TEST_REDIS_URL={env} does not answer PING")
        yield env
        return
    local = "redis://127.0.0.1:6379/0"
    if ping(local):
        yield local
        return
    server = start_redis_server()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_cluster_url() -> Iterator[str]:
    """A three-primary Redis Cluster on loopback ports for the session: `redis+cluster://127.0.0.1:p1`."""
    if not (os.path.exists(REDIS_SERVER) and os.path.exists(REDIS_CLI)):
        pytest.skip("redis-server / redis-cli are not installed")
    servers: list[RedisServer] = []
    try:
        for _ in range(3):
            port = free_cluster_port()
            servers.append(RedisServer(port, "--cluster-enabled", "yes", "--cluster-config-file",
                                       f"nodes-{port}.conf", "--cluster-node-timeout", "5000"))
        nodes = [f"127.0.0.1:{s.port}" for s in servers]
        out = subprocess.run([REDIS_CLI, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
                             capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise RuntimeError(f"redis-cli --cluster create failed: {out.stdout}\n{out.stderr}")
        deadline = time.monotonic() + 20
        while True:  # wait until every node agrees the cluster is up
            states = [subprocess.run([REDIS_CLI, "-p", str(s.port), "cluster", "info"], capture_output=True,
                                     text=True, timeout=5).stdout for s in servers]
            if all("cluster_state:ok" in st for st in states):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)
        yield f"redis+cluster://127.0.0.1:{servers[0].port}"
    finally:
        for s in servers:
            s.stop()


def unique_namespace(prefix: str = "amtest") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def namespace_keys(url: str, namespace: str) -> list[bytes]:
    """Every key of `namespace` on the server or cluster at `url`."""
    import redis
    from redis.cluster import RedisCluster
    if url.startswith("redis+cluster://"):
        client = RedisCluster.from_url("redis://" + url[len("redis+cluster://"):])
    else:
        client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match=f"{namespace}:*", count=1000))
    finally:
        client.close()


@pytest.fixture
def redis_namespace(redis_url) -> Iterator[str]:
    """A namespace of its own for one test; fails the test if it leaves keys behind."""
    ns = unique_namespace()
    yield ns
    left = namespace_keys(redis_url, ns)
    assert not left, f"namespace {ns} left {len(left)} keys behind, e.g. {left[:5]}"


def seed_state(complexity: int = 1, rng: Optional[random.Random] = None, step: int = 0) -> dict[str, Any]:
    """The seed's generate_test_state(complexity) (the suite's generator), seeded by `step` by default."""
    from benchmarks.workloads import generate_test_state
    return generate_test_state(complexity, rng or random.Random(step), step)


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis),
                        pytest.param("cluster", marks=[pytest.mark.redis, pytest.mark.cluster])])
def backend(request) -> str:
    """The STM/IM backend a tier test runs on: embedded, one Redis server, or a Redis Cluster."""
    return request.param


@pytest.fixture
def make_backend_system(request, backend, tmp_path) -> Iterator[Callable[..., Any]]:
    """make_backend_system(namespace=None, **config fields, stm_limit=…, im_limit=…, im_ttl=…) on `backend`.

    Every system is closed after the test; on Redis the test's namespaces are cleared and checked empty.
    """
    from config_overrides import apply_overrides
    from memory import AgentMemorySystem, MemoryConfig
    url = None
    if backend == "redis":
        url = request.getfixturevalue("redis_url")
    elif backend == "cluster":
        url = request.getfixturevalue("redis_cluster_url")
    built: list[Any] = []
    namespaces: dict[str, Any] = {}
    default_ns = unique_namespace()

    def build(namespace: Optional[str] = None, *, stm_limit: Optional[int] = None, im_limit: Optional[int] = None,
              im_ttl: Optional[float] = None, stm_ttl: Optional[float] = None, **fields: Any) -> Any:
        config = MemoryConfig(**fields)
        if url is not None:
            config.backend = "redis"
            config.redis_url = url
            config.namespace = namespace or default_ns
        apply_overrides(config, stm_limit=stm_limit, stm_ttl=stm_ttl, im_limit=im_limit, im_ttl=im_ttl)
        system = AgentMemorySystem(config)
        built.append(system)
        namespaces.setdefault(config.namespace, system)
        return system

    build.backend = backend  # type: ignore[attr-defined]
    build.url = url  # type: ignore[attr-defined]
    yield build
    try:
        if url is not None:
            for ns, system in namespaces.items():
                if system._closed:
                    system = build(ns)
                system.clear_all_memories()
    finally:
        for system in built:
            system.close()
    if url is not None:
        for ns in namespaces:
            left = namespace_keys(url, ns)
            assert not left, f"namespace {ns} left {len(left)} keys behind, e.g. {left[:5]}"
