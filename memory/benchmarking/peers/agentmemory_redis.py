"""AgentMemory on Redis (``backend="redis"``): STM in a Redis server, under a key prefix of its own.

The server is ``$AGENTMEMORY_BENCH_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) unless given;
the namespace is ``peers-<pid>-<random>`` unless given. :meth:`close` deletes every key of the
namespace (``clear_all_memories``, then a SCAN for anything left), so nothing outlives the peer.
A server that does not answer makes the peer unavailable (:class:`PeerUnavailable`).
"""

from __future__ import annotations

import os
import uuid
from typing import Any, Optional, Sequence, Union

from .agentmemory_embedded import AgentMemoryPeer
from .protocol import PeerUnavailable

REDIS_URL_ENV = "AGENTMEMORY_BENCH_REDIS_URL"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class AgentMemoryRedisPeer(AgentMemoryPeer):
    """AgentMemory with STM on a Redis server (its index per agent in process, rebuilt from Redis on change)."""

    name = "agentmemory-redis"
    description = "AgentMemory, STM on a Redis server (loopback), its own namespace; index per agent in process"
    exact = True
    persistent = False

    def __init__(self, directory: Optional[Union[str, os.PathLike]] = None, attributes: Sequence[str] = (),
                 redis_url: Optional[str] = None, namespace: Optional[str] = None) -> None:
        self.redis_url = redis_url or os.environ.get(REDIS_URL_ENV, "").strip() or DEFAULT_REDIS_URL
        self.namespace = namespace or f"peers-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        super().__init__(directory, attributes)

    def _config(self) -> Any:
        config = super()._config()
        config.backend = "redis"
        config.redis_url = self.redis_url
        config.namespace = self.namespace
        return config

    def _open(self) -> None:
        self._ping()
        super()._open()

    def _ping(self) -> None:
        """PeerUnavailable unless a Redis server answers at the URL."""
        import redis

        from memory.config import redact

        try:
            client = redis.Redis.from_url(self.redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
            try:
                client.ping()
            finally:
                client.close()
        except (redis.RedisError, OSError, ValueError) as exc:
            raise PeerUnavailable(self.name, f"no Redis server answers at {redact(self.redis_url)} "
                                             f"({type(exc).__name__})") from None

    def _close(self) -> None:
        cleared = False
        try:
            self.system.clear_all_memories()
            cleared = True
        finally:
            try:
                super()._close()
            finally:
                if not cleared:  # a SCAN of the whole keyspace: only when the clear failed
                    self._delete_leftovers()

    def _delete_leftovers(self) -> None:
        """Delete any key of the namespace still there (e.g. after a failed clear)."""
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_timeout=10.0, socket_connect_timeout=10.0)
        try:
            keys = list(client.scan_iter(match=f"{self.namespace}:*", count=1000))
            for start in range(0, len(keys), 500):
                client.delete(*keys[start:start + 500])
        except (redis.RedisError, OSError):
            pass  # the server went away: clear_all_memories already removed what it could
        finally:
            client.close()
