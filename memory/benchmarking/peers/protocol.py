"""The protocol of "a memory implementation under test" (a *peer*): what the implementations benchmark
(``benchmarks/implementations.py``) and the conformance tests ask of AgentMemory and of other stores.

A peer stores batches of one agent's memories -- (step, state dict, float32 vector) -- and answers:
read by id, the top-k most similar memories of one agent (cosine), one agent's memories in a step
range, and one agent's memories whose top-level attributes equal given values. Every peer gets the
same vectors (the encoder's, computed before any timing), so only storage and search are compared;
a query carries both the state and its vector, and AgentMemory, which embeds states itself, uses the
state (its encoder gives the same vector).

:class:`Peer` is the base every adapter extends: its public methods check their arguments once and
call the adapter's ``_store``/``_read``/``_top_k``/``_step_range``/``_attribute_equal``; it owns the
adapter's working directory (a temporary one, removed on :meth:`Peer.close`, unless the caller gives
one to keep a persistent store). What an adapter is shows in class attributes: ``exact`` (search
returns the true top-k), ``persistent`` (a new instance on the same directory sees what was stored),
``reproducible_recall`` and ``reproducible_bytes`` (two builds of the same data measure the same: the
benchmark judges a metric that is not on the threshold instead of exactly).
"""

from __future__ import annotations

import abc
import importlib
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

#: An attribute value a query may compare: what every store's metadata can hold.
Scalar = Union[str, int, float, bool]
SCALAR_TYPES = (str, int, float, bool)
TEMP_PREFIX = "agentmemory-peer-"


class PeerError(Exception):
    """Something a peer was asked cannot be done: bad input, a closed peer, an unsupported query."""


class PeerUnavailable(PeerError):
    """The peer cannot run here: its optional package is missing or its server does not answer.

    ``name`` is the peer's registry name, ``reason`` why (one line); benchmarks skip it saying so."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name} unavailable: {reason}")
        self.name, self.reason = name, reason


class InvalidBatch(PeerError, ValueError):
    """A batch whose columns disagree in length, whose vectors are not finite float rows, or similar."""


class UnsupportedQuery(PeerError, ValueError):
    """A query the peer was not opened for (an attribute not declared at open) or malformed."""


@dataclass(frozen=True)
class Batch:
    """Memories of one agent to store: parallel columns of steps, states and float32 vectors (n, dim)."""

    agent_id: str
    steps: Sequence[int]
    states: Sequence[Dict[str, Any]]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.agent_id, str) or not self.agent_id:
            raise InvalidBatch(f"agent_id must be a non-empty str; got {self.agent_id!r}")
        vectors = np.asarray(self.vectors)
        if vectors.ndim != 2 or vectors.dtype != np.float32:
            raise InvalidBatch(f"vectors must be a 2-D float32 array; got {vectors.dtype} of shape {vectors.shape}")
        if not len(self.steps) == len(self.states) == len(vectors):
            raise InvalidBatch(f"steps, states and vectors differ in length: {len(self.steps)}, "
                               f"{len(self.states)}, {len(vectors)}")
        if not np.isfinite(vectors).all():
            raise InvalidBatch("vectors must be finite")
        for step in self.steps:
            if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 0:
                raise InvalidBatch(f"steps must be non-negative ints; got {step!r}")
        for state in self.states:
            if not isinstance(state, dict):
                raise InvalidBatch(f"states must be dicts; got {type(state).__name__}")

    def __len__(self) -> int:
        return len(self.states)


@dataclass(frozen=True)
class Query:
    """A similarity query: a state and its vector (the encoder's embedding of that state)."""

    state: Dict[str, Any]
    vector: np.ndarray


@dataclass(frozen=True)
class Record:
    """One stored memory as read back: its id, agent, step and state."""

    memory_id: str
    agent_id: str
    step: int
    state: Dict[str, Any]


@dataclass(frozen=True)
class Hit:
    """One similarity hit: the memory and its cosine similarity to the query."""

    record: Record
    similarity: float


def require_module(peer: str, module: str, package: str) -> ModuleType:
    """Import `module` for `peer`, or raise :class:`PeerUnavailable` naming the pip `package` to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise PeerUnavailable(peer, f"the {package} package is not installed (pip install {package}, or "
                                    f"pip install 'agentmemory[peers]'): {exc}") from None


def scalar_attributes(state: Mapping[str, Any], keys: Sequence[str]) -> Dict[str, Scalar]:
    """The values of `keys` in `state` that a store's metadata can hold (top-level scalars; others left out)."""
    return {key: state[key] for key in keys if isinstance(state.get(key), SCALAR_TYPES)}


def same_value(stored: Any, wanted: Scalar) -> bool:
    """Attribute equality as JSON sees it: a bool never equals a number (True != 1), 1 == 1.0."""
    return stored == wanted and isinstance(stored, bool) == isinstance(wanted, bool)


def normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero): cosine similarity becomes a dot product."""
    rows = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=-1, keepdims=True)
    return np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)


def directory_bytes(path: Union[str, os.PathLike]) -> int:
    """Bytes of every regular file under `path` (0 when it does not exist)."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            full = os.path.join(root, name)
            if os.path.isfile(full) and not os.path.islink(full):
                total += os.path.getsize(full)
    return total


class Peer(abc.ABC):
    """A memory implementation under test (see the module docstring).

    ``Peer(directory=None, attributes=(...))``: `directory` None gives a private temporary directory,
    removed on :meth:`close`; a given directory is kept (a persistent peer reopens what it holds).
    `attributes` are the top-level state keys :meth:`attribute_equal` may compare (stores that keep
    filterable metadata need them declared up front; values that are not scalars are not indexed).
    """

    #: The registry name (``memory.benchmarking.peers.NAMES``).
    name: str = ""
    #: One line: what the adapter runs and how it keeps agents apart.
    description: str = ""
    #: Search returns the true top-k by cosine (False: an approximate index; see its recall).
    exact: bool = True
    #: A new instance on the same directory sees what an earlier one stored.
    persistent: bool = False
    #: Two builds of the same data give the same recall@k (False: e.g. an ANN graph built by racing threads).
    reproducible_recall: bool = True
    #: Two builds of the same data give the same :meth:`disk_bytes` (False: e.g. sampled encodings, timestamps).
    reproducible_bytes: bool = True

    def __init__(self, directory: Optional[Union[str, os.PathLike]] = None,
                 attributes: Sequence[str] = ()) -> None:
        self.attributes: Tuple[str, ...] = tuple(attributes)
        for key in self.attributes:
            if not isinstance(key, str) or not key:
                raise UnsupportedQuery(f"attribute names must be non-empty str; got {key!r}")
        self.owns_directory = directory is None
        self.directory = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{self.name}-") if directory is None
                              else directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.closed = False
        try:
            self._open()
        except BaseException:
            self._remove_directory()
            raise

    # ---- what an adapter implements -----------------------------------------------------------

    @abc.abstractmethod
    def _open(self) -> None:
        """Connect or create the store in ``self.directory`` (reopen what is there if persistent)."""

    @abc.abstractmethod
    def _store(self, batch: Batch) -> List[str]:
        """Store `batch` (checked); return the new memories' ids, in order."""

    @abc.abstractmethod
    def _read(self, memory_id: str) -> Optional[Record]:
        """The memory with this id, or None."""

    @abc.abstractmethod
    def _top_k(self, agent_id: str, query: Query, k: int) -> List[Hit]:
        """The `k` memories of `agent_id` most similar to `query`, best first."""

    @abc.abstractmethod
    def _step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        """The memories of `agent_id` with start <= step <= end, by step."""

    @abc.abstractmethod
    def _attribute_equal(self, agent_id: str, attributes: Dict[str, Scalar]) -> List[Record]:
        """The memories of `agent_id` whose state has every given top-level value, by step."""

    def _close(self) -> None:
        """Release connections and clients (the base then removes a temporary directory)."""

    def _flush(self) -> None:
        """Make what was stored durable before its bytes are counted (default: nothing to do)."""

    # ---- the public API -------------------------------------------------------------------------

    def store(self, batch: Batch) -> List[str]:
        """Store a batch of one agent's memories; their ids, in order."""
        self._check_open()
        if not isinstance(batch, Batch):
            raise InvalidBatch(f"store takes a Batch; got {type(batch).__name__}")
        return self._store(batch) if len(batch) else []

    def read(self, memory_id: str) -> Optional[Record]:
        """The memory with this id, or None."""
        self._check_open()
        if not isinstance(memory_id, str):
            raise UnsupportedQuery(f"memory_id must be a str; got {memory_id!r}")
        return self._read(memory_id)

    def top_k(self, agent_id: str, query: Query, k: int = 10) -> List[Hit]:
        """The `k` memories of `agent_id` most similar to `query` (cosine), best first."""
        self._check_open()
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise UnsupportedQuery(f"k must be a positive int; got {k!r}")
        vector = np.asarray(query.vector)
        if vector.ndim != 1 or vector.dtype != np.float32 or not np.isfinite(vector).all():
            raise UnsupportedQuery("the query vector must be one finite float32 row")
        return self._top_k(agent_id, query, k)

    def step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        """The memories of `agent_id` with start <= step <= end, by step."""
        self._check_open()
        if not (_is_step(start) and _is_step(end)) or end < start:
            raise UnsupportedQuery(f"a step range needs ints 0 <= start <= end; got {start!r}..{end!r}")
        return self._step_range(agent_id, int(start), int(end))

    def attribute_equal(self, agent_id: str, attributes: Mapping[str, Scalar]) -> List[Record]:
        """The memories of `agent_id` whose state equals every given top-level value, by step."""
        self._check_open()
        if not attributes:
            raise UnsupportedQuery("give at least one attribute")
        for key, value in attributes.items():
            if key not in self.attributes:
                raise UnsupportedQuery(f"attribute {key!r} was not declared when the peer was opened "
                                       f"(declared: {', '.join(self.attributes) or 'none'})")
            if not isinstance(value, SCALAR_TYPES) or (isinstance(value, float) and not math.isfinite(value)):
                raise UnsupportedQuery(f"attribute {key!r}: compare a str, int, bool or finite float; got {value!r}")
        return self._attribute_equal(agent_id, dict(attributes))

    def disk_bytes(self) -> int:
        """Bytes of the files this peer keeps in its directory now (0 for one that holds memory only)."""
        self._check_open()
        self._flush()
        return directory_bytes(self.directory)

    def close(self) -> None:
        """Release the store; remove the directory when it is a temporary one. Idempotent."""
        if self.closed:
            return
        self.closed = True
        try:
            self._close()
        finally:
            self._remove_directory()

    def __enter__(self) -> "Peer":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _check_open(self) -> None:
        if self.closed:
            raise PeerError(f"{self.name} peer is closed")

    def _remove_directory(self) -> None:
        if self.owns_directory:
            shutil.rmtree(self.directory, ignore_errors=True)


def _is_step(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= 0
