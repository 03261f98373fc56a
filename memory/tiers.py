"""A tier: one store plus per-agent vector indexes, a codec and an embedding size.

STM, IM and LTM are three Tier objects that differ only by policy: which store, which codec,
which projection of the state vector (none for STM, an autoencoder for IM and LTM).
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from .embeddings.autoencoder import Autoencoder
from .embeddings.codec import Codec
from .embeddings.encoder import Features, StateEncoder
from .entry import MemoryRecord, to_memory
from .retrieval.index import VectorIndex
from .stores.base import MemoryStore
from .stores.inmemory import InMemoryStore

PENDING_FLUSH = 256  # STM vectors computed together once this many stores are pending


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


class Tier:
    """One memory tier across all agents."""

    def __init__(self, name: str, store: MemoryStore, codec: Codec, encoder: StateEncoder,
                 projector: Optional[Autoencoder] = None) -> None:
        self.name = name
        self.store = store
        self.codec = codec
        self.encoder = encoder
        self.projector = projector
        self.dim = projector.code_dim if projector is not None else encoder.dim
        self._indexes: dict[str, VectorIndex] = {}
        self._seen: dict[str, int] = {}         # store version our index reflects, per agent
        self._features: dict[str, Features] = {}  # pending STM features, per agent
        self._touch = None if isinstance(store, InMemoryStore) else store.touch  # live records need no write-back
        self._decode = codec.decode

    # -- indexes -------------------------------------------------------------------------------
    def index(self, agent_id: str) -> VectorIndex:
        """The agent's index, rebuilt from the store first if another process wrote since."""
        idx = self._indexes.get(agent_id)
        if idx is None or (self.store.shared and self.store.version(agent_id) != self._seen.get(agent_id)):
            idx = self._rebuild(agent_id)
        return idx

    def local_index(self, agent_id: str) -> VectorIndex:
        """The agent's index without a freshness check (hot write path; created when missing)."""
        idx = self._indexes.get(agent_id)
        if idx is None:
            idx = self.index(agent_id)
        return idx

    def _rebuild(self, agent_id: str) -> VectorIndex:
        version = self.store.version(agent_id)
        idx = VectorIndex(self.dim)
        self._features.pop(agent_id, None)  # pending features belonged to the old index; features() re-links a new buffer
        if self.store.keeps_vectors or self.store.shared:
            records = self.store.records(agent_id)
            if records:
                idx.add_records(records, self._vectors_of(records))
        self._indexes[agent_id] = idx
        self._seen[agent_id] = version
        return idx

    def _vectors_of(self, records: Sequence[MemoryRecord]) -> np.ndarray:
        vecs = np.zeros((len(records), self.dim), dtype=np.float32)
        missing = []
        for i, r in enumerate(records):
            if r.vector is not None and len(r.vector) == self.dim:
                vecs[i] = r.vector
            else:
                missing.append(i)
        if missing:
            vecs[missing] = self.embed_contents([self.codec.decode(records[i].content) for i in missing])
        return vecs

    def after_write(self, agent_id: str, version: int) -> None:
        """Note a store version produced by our own write; a gap means another writer: rebuild later."""
        if self._seen.get(agent_id) == version - 1:
            self._seen[agent_id] = version
        else:
            self._seen[agent_id] = -1

    def features(self, agent_id: str, idx: VectorIndex) -> Features:
        """The agent's buffer of features whose vectors are not computed yet."""
        feats = self._features.get(agent_id)
        if feats is None:
            feats = self._features[agent_id] = Features()
        if idx._resolve is None:
            def resolve(feats: Features = feats) -> np.ndarray:
                vecs = self.encoder.vectors(feats)
                feats.clear()
                return vecs
            idx.set_pending(resolve)
        return feats

    def drop_agent_index(self, agent_id: str) -> None:
        """Forget the agent's index (rebuilt from the store on next use)."""
        self._indexes.pop(agent_id, None)
        self._seen.pop(agent_id, None)
        self._features.pop(agent_id, None)

    def clear(self) -> None:
        """Delete every record and index of this tier."""
        self.store.clear()
        self._indexes.clear()
        self._seen.clear()
        self._features.clear()

    # -- embeddings ----------------------------------------------------------------------------
    def project(self, full: np.ndarray) -> np.ndarray:
        """State vectors (n, stm_dim) → this tier's unit embeddings (n, dim)."""
        if self.projector is None:
            return unit_rows(full)
        return unit_rows(self.projector.encode(np.asarray(full, dtype=np.float32)))

    def embed_contents(self, contents: Sequence[Any]) -> np.ndarray:
        """Contents → this tier's unit embeddings."""
        return self.project(self.encoder.encode_states(contents))

    def query_vector(self, full_query: np.ndarray) -> np.ndarray:
        """A unit state vector → the unit query for this tier's index."""
        return self.project(full_query[None, :])[0]

    # -- records -------------------------------------------------------------------------------
    def add(self, agent_id: str, records: list[MemoryRecord], vecs: np.ndarray) -> None:
        """Store records with their unit tier embeddings and index them."""
        if not records:
            return
        if self.store.keeps_vectors:
            for r, v in zip(records, vecs):
                r.vector = v
        idx = self.local_index(agent_id)
        idx.add_records(records, vecs)
        try:
            version = self.store.add(records)
        except BaseException:
            idx.remove([r.memory_id for r in records])
            raise
        self.after_write(agent_id, version)

    def remove(self, agent_id: str, memory_ids: Sequence[str]) -> list[MemoryRecord]:
        """Delete records from store and index; returns the removed records."""
        removed = self.store.remove(agent_id, memory_ids)
        self.local_index(agent_id).remove(memory_ids)
        if self.store.shared:
            self.after_write(agent_id, self.store.version(agent_id))
        return removed

    def get(self, memory_id: str, agent_id: Optional[str] = None) -> Optional[MemoryRecord]:
        """The record, if this tier holds it (and it belongs to `agent_id` when given)."""
        rec = self.store.get(memory_id)
        if rec is None or (agent_id is not None and rec.agent_id != agent_id):
            return None
        return rec

    def note_retrievals(self, records: Sequence[MemoryRecord], now: float) -> None:
        """Count a retrieval of each record (raises its retention score)."""
        indexes = self._indexes
        for rec in records:
            rec.retrieval_count += 1
            rec.last_accessed = now
            idx = indexes.get(rec.agent_id)
            if idx is not None:
                idx.note_retrieval(rec.memory_id)
        if self._touch is not None:
            self._touch(records)

    def memory(self, rec: MemoryRecord) -> dict[str, Any]:
        """The public memory dict of a record of this tier."""
        return to_memory(rec, self.name, self._decode(rec.content))
