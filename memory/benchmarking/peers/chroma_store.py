"""Chroma (``chromadb``), embedded: a PersistentClient in the peer's directory, one collection per agent.

Each agent gets its own collection (cosine space, Chroma's default HNSW settings), so a top-k within
an agent needs no metadata filter: on one shared collection a ``where`` on the agent measured ~34 ms
per top-10 at 10 000 memories against ~2 ms per collection. A memory's metadata holds its step and
the declared attributes (scalars), its document the state as JSON. Chroma's search is HNSW, an
approximate index (recall below 1.0). Ids are ``<agent key>:<n>``, so a read by id finds the agent's
collection from the id alone.

Chroma's builds are not reproducible, and no setting of chromadb 1.5 makes them so (measured in
fresh processes, the benchmark's workload at 10 000 memories, 16 builds). Recall@10 (0.935-0.975): the
Rust HNSW writer gathers each ``add``'s vectors in a ``HashMap`` (keyed at random per process) and
inserts them from rayon's thread pool, so the insertion order, hence the graph, differs per build.
``num_threads`` (``configuration={"hnsw": {"num_threads": 1}}``, or ``metadata={"hnsw:num_threads": 1}``)
is accepted but dropped from the collection's configuration and changes nothing, nor does
``RAYON_NUM_THREADS=1``; only one memory per ``add`` gave the same graph (two builds of 1 000), at
~30 memories/s instead of ~1 200. Disk bytes (91.72-91.83 MB): the SQLite metadata segment writes each memory's
metadata rows in a ``HashMap``'s order too, so they fill a few pages more or fewer (even after a
VACUUM), and the purged write-ahead log (``embeddings_queue``) leaves ~3 350-3 380 free pages.
"""

from __future__ import annotations

import hashlib
from typing import Any, Dict, List, Optional

import orjson

from .protocol import Batch, Hit, Peer, Query, Record, Scalar, require_module, scalar_attributes

STEP_KEY = "memory_step"
AGENT_KEY = "agent_id"
ATTRIBUTE_PREFIX = "attr:"


def agent_key(agent_id: str) -> str:
    """A short, collection-name-safe key of an agent id (its collection is ``agent-<key>``)."""
    return hashlib.sha256(agent_id.encode("utf-8")).hexdigest()[:24]


class ChromaPeer(Peer):
    """chromadb.PersistentClient, a collection per agent, HNSW cosine (approximate)."""

    name = "chroma"
    description = "Chroma PersistentClient (embedded, SQLite + HNSW), one cosine collection per agent"
    exact = False
    persistent = True
    reproducible_recall = False  # the HNSW graph differs per build (see the module docstring)
    reproducible_bytes = False  # the metadata segment's pages too

    def _open(self) -> None:
        chromadb = require_module(self.name, "chromadb", "chromadb")
        self.client = chromadb.PersistentClient(path=str(self.directory),
                                                settings=chromadb.Settings(anonymized_telemetry=False))
        self.max_batch = int(self.client.get_max_batch_size())
        self.collections: Dict[str, Any] = {}  # agent key -> collection
        self.counts: Dict[str, int] = {}

    def _close(self) -> None:
        self.collections.clear()
        self.client.close()

    def _collection(self, key: str, agent_id: Optional[str] = None) -> Any:
        """The collection of agent `key`: opened, or created when `agent_id` is given; None if absent."""
        found = self.collections.get(key)
        if found is not None:
            return found
        name = f"agent-{key}"
        if agent_id is None:
            try:
                found = self.client.get_collection(name, embedding_function=None)
            except Exception:  # chromadb raises NotFoundError (or ValueError in older releases)
                return None
        else:
            found = self.client.get_or_create_collection(
                name, embedding_function=None, metadata={AGENT_KEY: agent_id},
                configuration={"hnsw": {"space": "cosine"}})
        self.collections[key] = found
        self.counts[key] = found.count()
        return found

    def _store(self, batch: Batch) -> List[str]:
        key = agent_key(batch.agent_id)
        collection = self._collection(key, batch.agent_id)
        first = self.counts[key]
        ids = [f"{key}:{first + i}" for i in range(len(batch))]
        metadatas = []
        for step, state in zip(batch.steps, batch.states):
            meta: Dict[str, Any] = {STEP_KEY: int(step), AGENT_KEY: batch.agent_id}
            meta.update((ATTRIBUTE_PREFIX + k, v) for k, v in scalar_attributes(state, self.attributes).items())
            metadatas.append(meta)
        documents = [orjson.dumps(state).decode("utf-8") for state in batch.states]
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            collection.add(ids=ids[start:end], embeddings=batch.vectors[start:end],
                           metadatas=metadatas[start:end], documents=documents[start:end])
        self.counts[key] = first + len(ids)
        return ids

    def _read(self, memory_id: str) -> Optional[Record]:
        collection = self._collection(memory_id.split(":", 1)[0])
        if collection is None:
            return None
        got = collection.get(ids=[memory_id], include=["documents", "metadatas"])
        records = _records(got)
        return records[0] if records else None

    def _top_k(self, agent_id: str, query: Query, k: int) -> List[Hit]:
        key = agent_key(agent_id)
        collection = self._collection(key)
        if collection is None or not self.counts[key]:
            return []
        got = collection.query(query_embeddings=query.vector[None, :], n_results=min(k, self.counts[key]),
                               include=["documents", "metadatas", "distances"])
        rows = {name: (got[name] or [[]])[0] for name in ("ids", "documents", "metadatas", "distances")}
        records = _records(rows)
        return [Hit(record, 1.0 - float(distance)) for record, distance in zip(records, rows["distances"])]

    def _where(self, agent_id: str, where: Dict[str, Any]) -> List[Record]:
        collection = self._collection(agent_key(agent_id))
        if collection is None:
            return []
        records = _records(collection.get(where=where, include=["documents", "metadatas"]))
        records.sort(key=lambda r: r.step)
        return records

    def _step_range(self, agent_id: str, start: int, end: int) -> List[Record]:
        return self._where(agent_id, {"$and": [{STEP_KEY: {"$gte": start}}, {STEP_KEY: {"$lte": end}}]})

    def _attribute_equal(self, agent_id: str, attributes: Dict[str, Scalar]) -> List[Record]:
        terms = [{ATTRIBUTE_PREFIX + key: {"$eq": value}} for key, value in attributes.items()]
        return self._where(agent_id, terms[0] if len(terms) == 1 else {"$and": terms})


def _records(got: Dict[str, Any]) -> List[Record]:
    """Records from a chromadb get/query result (ids, documents, metadatas as parallel lists)."""
    return [Record(mid, meta[AGENT_KEY], int(meta[STEP_KEY]), orjson.loads(doc))
            for mid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"])]
