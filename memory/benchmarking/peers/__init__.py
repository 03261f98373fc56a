"""Memory implementations under test ("peers"): AgentMemory and other stores behind one protocol.

The registry: :data:`NAMES` in the order reports show them, :func:`open_peer` to make one, and
:func:`availability` to ask whether one can run here (its optional package installed, its server
up) without keeping it. Importing this package imports no optional package; each adapter imports
its own when opened and raises :class:`PeerUnavailable` (name, reason) when it cannot.

=====================  ===============================================  ======================
name                   what runs                                        pip package
=====================  ===============================================  ======================
``agentmemory``        AgentMemory, embedded backend                    (this package)
``agentmemory-redis``  AgentMemory, STM on Redis                        (this package) + server
``numpy``              brute force, one float32 matrix per agent        numpy
``chroma``             Chroma PersistentClient, collection per agent    chromadb
``sqlite-vec``         sqlite-vec vec0, partitioned by agent            sqlite-vec (+ sqlean-py)
``lancedb``            LanceDB, table per agent, exact scan             lancedb
``faiss``              faiss IndexFlatIP per agent (index only)         faiss-cpu
=====================  ===============================================  ======================

To add your own store: subclass :class:`~memory.benchmarking.peers.protocol.Peer` in a module of this
package (``_open``, ``_store``, ``_read``, ``_top_k``, ``_step_range``, ``_attribute_equal``,
optionally ``_close``/``_flush``; class attributes ``name``, ``description``, ``exact``,
``persistent``, ``reproducible_recall``, ``reproducible_bytes``) and add a line to :data:`_ADAPTERS` (and its pip package to :data:`PACKAGES`).
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, List, Optional, Sequence, Tuple, Type

from .protocol import (Batch, Hit, InvalidBatch, Peer, PeerError, PeerUnavailable, Query, Record,  # noqa: F401
                       UnsupportedQuery)

#: name -> (module of this package, class): imported only when the peer is used.
_ADAPTERS: Dict[str, Tuple[str, str]] = {
    "agentmemory": ("agentmemory_embedded", "AgentMemoryPeer"),
    "agentmemory-redis": ("agentmemory_redis", "AgentMemoryRedisPeer"),
    "numpy": ("numpy_floor", "NumpyPeer"),
    "chroma": ("chroma_store", "ChromaPeer"),
    "sqlite-vec": ("sqlitevec_store", "SqliteVecPeer"),
    "lancedb": ("lancedb_store", "LanceDBPeer"),
    "faiss": ("faiss_index", "FaissPeer"),
}

#: Every peer's registry name, in the order reports list them (ours first, then the floor).
NAMES: Tuple[str, ...] = tuple(_ADAPTERS)

#: The pip requirements each peer needs beyond this package (the ``peers`` extra installs them all).
PACKAGES: Dict[str, Tuple[str, ...]] = {
    "agentmemory": (), "agentmemory-redis": (), "numpy": (),
    "chroma": ("chromadb",), "sqlite-vec": ("sqlite-vec", "sqlean-py"), "lancedb": ("lancedb",),
    "faiss": ("faiss-cpu",),
}


def require_name(name: Any) -> str:
    """`name` when it is a registered peer, else PeerError listing them."""
    if name not in _ADAPTERS:
        raise PeerError(f"unknown implementation {name!r}; valid: {', '.join(NAMES)}")
    return name


def peer_class(name: str) -> Type[Peer]:
    """The adapter class of peer `name` (imports its module, not its optional package)."""
    module, cls = _ADAPTERS[require_name(name)]
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def open_peer(name: str, **options: Any) -> Peer:
    """A new peer `name`; options go to its class (``directory``, ``attributes``, and e.g. ``redis_url``).
    Raises PeerUnavailable when it cannot run here."""
    return peer_class(name)(**options)


def availability(name: str, **options: Any) -> Optional[str]:
    """None when peer `name` opens here (it is opened and closed at once), else why not."""
    try:
        open_peer(name, **options).close()
    except PeerUnavailable as exc:
        return exc.reason
    return None


def requirements(names: Sequence[str] = NAMES) -> List[str]:
    """The pip packages the peers `names` need, each once, in order."""
    out: List[str] = []
    for name in names:
        out += [p for p in PACKAGES[require_name(name)] if p not in out]
    return out


__all__ = ["NAMES", "PACKAGES", "Batch", "Hit", "InvalidBatch", "Peer", "PeerError", "PeerUnavailable", "Query",
           "Record", "UnsupportedQuery", "availability", "open_peer", "peer_class", "require_name", "requirements"]
