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
from .entry import TYPE_CODES, MemoryRecord, to_memory
from .errors import CorruptDataError
from .integrity import CorruptionLog
from .records import RecordMaker
from .retrieval.index import VectorIndex
from .stores.base import MemoryStore

PENDING_FLUSH = 256  # STM vectors computed together once this many stores are pending


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


class Tier:
    """One memory tier across all agents.

    Damaged content: `memory` (a read by id) raises CorruptDataError naming the memory; the `..._or_skip`
    methods and index rebuilds used by searches, listings and maintenance skip the record, warn once and
    count it (`corrupt_skipped`).
    """

    def __init__(self, name: str, store: MemoryStore, codec: Codec, encoder: StateEncoder,
                 projector: Optional[Autoencoder], maker: RecordMaker) -> None:
        """`maker` makes the records of new memories (ids, this tier's bytes of the content, importance)."""
        self.name = name
        self.maker = maker
        self.store = store
        self.codec = codec
        self.encoder = encoder
        self.projector = projector
        self.dim = projector.code_dim if projector is not None else encoder.dim
        self._indexes: dict[str, VectorIndex] = {}
        self._seen: dict[str, int] = {}         # store version our index reflects, per agent
        self._features: dict[str, Features] = {}  # pending STM features, per agent
        self._touch = None if store.live_records else store.touch  # live records need no write-back
        # where an index comes from: the store (its vectors, or another process's writes), or only from our
        # own writes (a private store without vectors: the index is the only copy of the embeddings)
        self._index_from_store = store.keeps_vectors or store.shared
        self._add_one = store.add_one
        self._decode = codec.decode
        self.corruption = CorruptionLog(f"{name.upper()} tier")

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
        self._features.pop(agent_id, None)  # pending features belonged to the old index; the next write links a new buffer
        if self._index_from_store:
            records = self.store.records(agent_id)
            if records:
                records, vecs = self._vectors_of(records)
                idx.add_records(records, vecs)
        self._indexes[agent_id] = idx
        self._seen[agent_id] = version
        return idx

    def _vectors_of(self, records: Sequence[MemoryRecord]) -> tuple[Sequence[MemoryRecord], np.ndarray]:
        """Records with their embeddings (stored, else embedded from content); damaged content is skipped."""
        vecs = np.zeros((len(records), self.dim), dtype=np.float32)
        missing = []
        for i, r in enumerate(records):
            if r.vector is not None and len(r.vector) == self.dim:
                vecs[i] = r.vector
            else:
                missing.append(i)
        if missing:
            contents = [self.content_or_skip(records[i]) for i in missing]
            bad = {i for i, c in zip(missing, contents) if c is None}
            ok = [(i, c) for i, c in zip(missing, contents) if c is not None]
            if ok:
                vecs[[i for i, _ in ok]] = self.embed_contents([c for _, c in ok])
            if bad:
                keep = [i for i in range(len(records)) if i not in bad]
                return [records[i] for i in keep], vecs[keep]
        return records, vecs

    def after_write(self, agent_id: str, version: int) -> None:
        """Note a store version produced by our own write; a gap means another writer: rebuild later."""
        if self._seen.get(agent_id) == version - 1:
            self._seen[agent_id] = version
        else:
            self._seen[agent_id] = -1

    def _pending_features(self, agent_id: str, idx: VectorIndex) -> Features:
        """The buffer of features of the agent's rows appended to `idx` whose vectors are not computed yet
        (made with the index: every rebuild of an index drops its buffer, so the next write links a new one)."""
        feats = self._features.get(agent_id)
        if feats is None:
            feats = self._features[agent_id] = Features()

            def resolve(feats: Features = feats) -> np.ndarray:
                vecs = self.encoder.vectors(feats)
                feats.clear()
                return vecs
            idx.set_pending(resolve)
        return feats

    def reembed(self, agent_id: str) -> None:
        """Recompute the agent's embeddings from the stored content with this tier's (retrained) projection;
        damaged content keeps its old vector."""
        records, contents = self.decodable(self.store.records(agent_id))
        if not records:
            return
        vecs = self.embed_contents(contents)
        self.store.update_vectors(agent_id, [r.memory_id for r in records], vecs)
        self.drop_agent_index(agent_id)
        if not self._index_from_store:
            self.local_index(agent_id).add_records(records, vecs)

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
    def write(self, agent_id: str, contents: Sequence[Any], steps: Sequence[int], priorities: Sequence[float],
              memory_type: str) -> list[MemoryRecord]:
        """Store new memories of one agent: validate every content (the encoder's walk), then make their
        records (`maker`), store and index them; all or nothing. The one write path of single and batch stores.

        One STM memory takes the hot path: its row is appended to the index now and its vector computed
        with those of the next stores (PENDING_FLUSH of them), at the latest on the next read."""
        if len(contents) != 1 or self.projector is not None:
            return self._write_many(agent_id, contents, steps, priorities, memory_type)
        idx = self._indexes.get(agent_id)
        feats = self._features.get(agent_id)
        if idx is None or feats is None:
            idx = self.local_index(agent_id)
            feats = self._pending_features(agent_id, idx)
        content = contents[0]
        self.encoder.add_features(content, feats)  # raises before anything is stored
        try:
            rec = self.maker.one(agent_id, content, steps[0], priorities[0], memory_type)
            version = self._add_one(rec)
        except BaseException:
            feats.keep(len(feats.ends) - 1)  # this state's features go: the next state's vector stays exact
            raise
        waiting = idx.append(rec.memory_id, rec.step_number, TYPE_CODES[memory_type], rec.entered_at, rec.importance)
        if self.store.shared:
            self.after_write(agent_id, version)
        if waiting >= PENDING_FLUSH:
            idx.flush()
        return [rec]

    def _write_many(self, agent_id: str, contents: Sequence[Any], steps: Sequence[int], priorities: Sequence[float],
                    memory_type: str) -> list[MemoryRecord]:
        """`write` of a batch (or into IM/LTM): every vector computed now, the records stored in one call."""
        feats = Features()
        self.encoder.add_features_many(contents, feats)  # raises before anything is stored
        full = self.encoder.vectors(feats)
        records = self.maker.many(agent_id, contents, steps, priorities, memory_type)
        self.add(agent_id, records, full if self.projector is None else self.project(full))
        return records

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

    def records_in_steps(self, agent_id: str, start: int, end: int, memory_type: Optional[str]) -> list[MemoryRecord]:
        """The agent's records with start <= step <= end (of `memory_type` when given), by step: from the
        store's own step index where it has one, else from this tier's index."""
        if self.store.answers_step_ranges:
            return [r for r in self.store.records_in_steps(agent_id, start, end)
                    if memory_type is None or r.memory_type == memory_type]
        code = TYPE_CODES[memory_type] if memory_type is not None else None
        ids = self.index(agent_id).rows_in_steps(start, end, code)
        return [r for r in self.store.get_many(ids) if r is not None]

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
        """The public memory dict of a record of this tier; CorruptDataError naming it if its content is damaged."""
        try:
            content = self._decode(rec.content)
        except CorruptDataError as exc:
            raise self.damaged(rec, exc) from exc
        return to_memory(rec, self.name, content)

    # -- damaged content: raised by reads by id, skipped by everything over many records -----------
    def damaged(self, rec: MemoryRecord, exc: CorruptDataError) -> CorruptDataError:
        """The error naming a record of this tier whose content the codec refused (one line)."""
        return CorruptDataError(f"{self.name.upper()} memory {rec.memory_id!r} is damaged: {exc}", rec.memory_id)

    def skip_damaged(self, rec: MemoryRecord, exc: CorruptDataError) -> None:
        """Warn (once per record) and count a damaged record that a search, listing or move skips."""
        self.corruption.skip(rec.agent_id, self.damaged(rec, exc))

    def content_or_skip(self, rec: MemoryRecord) -> Optional[dict]:
        """The record's content, or None (warned once, counted) when it is damaged."""
        try:
            return self._decode(rec.content)
        except CorruptDataError as exc:
            self.skip_damaged(rec, exc)
            return None

    def memories(self, records: Sequence[MemoryRecord]) -> list[dict[str, Any]]:
        """Public memory dicts of records, leaving out (warned, counted) those with damaged content."""
        out = []
        for rec in records:
            content = self.content_or_skip(rec)
            if content is not None:
                out.append(to_memory(rec, self.name, content))
        return out

    def decodable(self, records: Sequence[MemoryRecord]) -> tuple[list[MemoryRecord], list[dict]]:
        """The records whose content decodes, and those contents (damaged ones skipped)."""
        pairs = [(r, self.content_or_skip(r)) for r in records]
        kept = [(r, c) for r, c in pairs if c is not None]
        return [r for r, _ in kept], [c for _, c in kept]

    def reencode_from(self, src: "Tier", records: Sequence[MemoryRecord]) -> list[Optional[bytes]]:
        """Records of `src` re-encoded for this tier (a move); None where the content is damaged
        (skipped and counted by `src`, where it stays)."""
        out: list[Optional[bytes]] = []
        for r in records:
            try:
                out.append(self.codec.reencode(r.content, src.codec))
            except CorruptDataError as exc:
                src.skip_damaged(r, exc)
                out.append(None)
        return out

    def corrupt_skipped(self, agent_id: Optional[str] = None) -> int:
        """Distinct damaged records skipped in this tier (one agent's, or all), its store's listings included."""
        return self.corruption.count(agent_id) + self.store.corrupt_skipped(agent_id)
