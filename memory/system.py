"""AgentMemorySystem: the public entry point. Routes every call to the agent's partition of the tiers."""

from __future__ import annotations

import atexit
import contextlib
import itertools
import math
import os
import shutil
import tempfile
import threading
import time
import weakref
from typing import Any, Callable, Optional, Sequence

import numpy as np

from . import validation as check
from .agent import AgentState
from .blas import blas_limit
from .config import MemoryConfig
from .embeddings.autoencoder import Autoencoder
from .embeddings.codec import Codec, PresetDictionary, RoundingCodec, marshal_dumps, round_floats
from .embeddings.encoder import StateEncoder
from .entry import TYPE_CODES, to_memory
from .errors import AgentMemoryError, ConfigError, CorruptDataError, InvalidMemoryError, InvalidValueError, StorageError
from .retrieval.attributes import matches_attributes, parse_attributes
from .records import RecordMaker
from .stores import LTMStore, MemoryStore, create_fast_stores, create_ltm_store
from .tiers import Tier
from .transitions import maintain_agent

_TIER_ORDER = ("stm", "im", "ltm")
_MAX_STEP = check.MAX_STEP
LARGE_SEARCH_ROWS = 2048  # searches over at least this many rows run with limited BLAS threads


class TierEncoder:
    """A tier's view of the state encoder: state → that tier's embedding, and back to a state vector."""

    def __init__(self, encoder: StateEncoder, projector: Optional[Autoencoder]) -> None:
        self._encoder = encoder
        self._projector = projector
        self.dim = projector.code_dim if projector is not None else encoder.dim

    def encode(self, state: Any) -> np.ndarray:
        """One state → this tier's embedding (float32, `dim`)."""
        return self._project(self._encoder.encode(state)[None, :])[0]

    def encode_states(self, states: Sequence[Any]) -> np.ndarray:
        """Many states → (n, dim) embeddings."""
        return self._project(self._encoder.encode_states(check.sequence(states, "states")))

    def encode_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """(n, stm_dim) state vectors → (n, dim) embeddings."""
        return self._project(_finite_rows(vectors, self._encoder.dim, "vectors"))

    def decode(self, embedding: np.ndarray) -> np.ndarray:
        """One embedding → the reconstructed state vector (stm_dim)."""
        return self.decode_vectors(_finite_rows(embedding, self.dim, "embedding", one=True))[0]

    def decode_vectors(self, embeddings: np.ndarray) -> np.ndarray:
        """(n, dim) embeddings → (n, stm_dim) reconstructed state vectors."""
        embeddings = _finite_rows(embeddings, self.dim, "embeddings")
        return embeddings if self._projector is None else self._projector.decode(embeddings)

    def _project(self, vectors: np.ndarray) -> np.ndarray:
        """Encoder output (n, stm_dim) → (n, dim), unchecked: the encoder made it."""
        vectors = np.asarray(vectors, dtype=np.float32)
        return vectors if self._projector is None else self._projector.encode(vectors)


def _finite_rows(value: Any, width: int, name: str, one: bool = False) -> np.ndarray:
    """Caller-given vectors as float32 rows of `width` finite numbers (one vector as one row when `one`)."""
    try:
        with np.errstate(over="ignore", invalid="ignore"):  # a float64 beyond float32 becomes inf: rejected below
            arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidMemoryError(f"{name} must be an array of numbers; {type(exc).__name__}: {exc}") from None
    shape = arr.shape
    if one and arr.ndim == 1:
        arr = arr[None, :]
    elif one:
        arr = arr[None, None]  # not one vector: the shape check below says so
    if arr.ndim != 2 or arr.shape[1] != width:
        raise InvalidValueError(f"{name} must have shape {f'({width},)' if one else f'(n, {width})'}; got {shape}")
    if not np.isfinite(arr).all():
        raise InvalidValueError(f"{name} must be finite numbers (within the float32 range)")
    return arr


def _float_limit(config: MemoryConfig) -> float:
    """The magnitude from which a float would round to infinity in IM, LTM, or IM then LTM (rejected at the door)."""
    im, ltm = config.im_config.float_precision, config.ltm_config.float_precision
    return check.float_limit([lambda x: round_floats(x, im), lambda x: round_floats(x, ltm),
                              lambda x: round_floats(round_floats(x, im), ltm)])


_open_systems: "weakref.WeakSet[AgentMemorySystem]" = weakref.WeakSet()


@atexit.register
def _close_open_systems() -> None:
    """At exit, close systems nobody closed, so no temporary LTM file outlives the process."""
    for system in list(_open_systems):
        system.close()


def _locked(method: Callable) -> Callable:
    def wrapper(self: "AgentMemorySystem", *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = method.__name__, method.__doc__, method  # type: ignore[attr-defined]
    return wrapper


class AgentMemorySystem:
    """Tiered memory for many agents: STM (full), IM (compressed, TTL), LTM (SQLite, highly compressed)."""

    _instance: Optional["AgentMemorySystem"] = None
    _instance_lock = threading.Lock()

    def __init__(self, config: Optional[MemoryConfig] = None) -> None:
        config = MemoryConfig() if config is None else config
        if not isinstance(config, MemoryConfig):
            raise ConfigError(f"config must be a MemoryConfig; got {type(config).__name__}")
        self.config = config.validate()
        self._lock = threading.RLock()
        self._closed = False
        ae = config.autoencoder_config
        self.encoder = StateEncoder(ae.stm_dim, max_float=_float_limit(config))
        self._im_ae = Autoencoder(ae.stm_dim, ae.im_dim, seed=ae.seed)
        self._ltm_ae = Autoencoder(ae.stm_dim, ae.ltm_dim, seed=ae.seed + 1)
        self._temp_dir: Optional[str] = None
        db_path = config.ltm_config.db_path if config.ltm_backend == "sqlite" else None
        if db_path is None and config.ltm_backend == "sqlite":
            self._temp_dir = tempfile.mkdtemp(prefix="agentmemory-")
            db_path = os.path.join(self._temp_dir, "ltm.db")
        self.ltm_path = db_path  # the SQLite file; None for an LTM on PostgreSQL
        try:
            stm_store, im_store = create_fast_stores(config)
        except BaseException:
            self._remove_temp_dir()
            raise
        try:
            ltm_store = create_ltm_store(config, ae.ltm_dim, db_path)
        except BaseException:
            stm_store.close(), im_store.close()
            self._remove_temp_dir()
            raise
        self._load_encoders(ltm_store)
        portable = stm_store.shared
        # ids are "<agent_id>:<12 hex of this system><counter>" (see RecordMaker)
        id_prefix, counter = os.urandom(6).hex(), itertools.count(1)
        stm_codec = Codec(portable=portable)
        encode_raw = marshal_dumps if not portable else stm_codec.encode  # the full-resolution bytes

        def make_tier(name: str, store: MemoryStore, codec: Codec, projector: Optional[Autoencoder]) -> Tier:
            encode = None if codec is stm_codec else codec.encode
            return Tier(name, store, codec, self.encoder, projector,
                        RecordMaker(config, id_prefix, counter, encode_raw, encode))
        self.stm = make_tier("stm", stm_store, stm_codec, None)
        self.im = make_tier("im", im_store, RoundingCodec(config.im_config.float_precision), self._im_ae)
        zdict = PresetDictionary(ltm_store)  # agreed once per file; each record names its dictionary
        self.ltm = make_tier("ltm", ltm_store, RoundingCodec(config.ltm_config.float_precision,
                        compress_level=config.ltm_config.compression_level, dictionary=zdict), self._ltm_ae)
        self.tiers = {"stm": self.stm, "im": self.im, "ltm": self.ltm}
        self._all_tiers = (self.stm, self.im, self.ltm)
        self._agents: dict[str, AgentState] = {}
        self._maintenance_failures: dict[str, int] = {}  # per agent: transitions that raised (logged, skipped)
        _open_systems.add(self)

    # -- lifecycle -----------------------------------------------------------------------------
    @classmethod
    def get_instance(cls, config: Optional[MemoryConfig] = None) -> "AgentMemorySystem":
        """The process-wide shared system, built on first call; a later, different config is an error."""
        with cls._instance_lock:
            inst = cls._instance
            if inst is None or inst._closed:
                inst = cls._instance = cls(config)
            elif config is not None and config != inst.config:
                raise ConfigError("get_instance: the shared system already exists with a different config; "
                                  "close() it first or build AgentMemorySystem(config) directly")
            return inst

    def __enter__(self) -> "AgentMemorySystem":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Release stores; a default (temporary) LTM file is deleted, a configured one kept."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for tier in self.tiers.values():
                try:
                    tier.store.close()
                except Exception:  # closing must release the rest even if one store fails
                    pass
            self._remove_temp_dir()
        if AgentMemorySystem._instance is self:
            AgentMemorySystem._instance = None

    def _remove_temp_dir(self) -> None:
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __del__(self) -> None:  # a forgotten close() must not leave temp files behind
        try:
            if not self._closed:
                self.close()
        except Exception:
            pass

    # -- storing -------------------------------------------------------------------------------
    def store_agent_state(self, agent_id: str, state_data: dict, step_number: int, priority: float = 1.0,
                          tier: str = "stm") -> str:
        """Store one state; returns its memory id."""
        return self._store_one(agent_id, state_data, step_number, priority, "state", tier)

    def store_agent_action(self, agent_id: str, action_data: dict, step_number: int, priority: float = 1.0,
                           tier: str = "stm") -> str:
        """Store one action; returns its memory id."""
        return self._store_one(agent_id, action_data, step_number, priority, "action", tier)

    def store_agent_interaction(self, agent_id: str, interaction_data: dict, step_number: int,
                                priority: float = 1.0, tier: str = "stm") -> str:
        """Store one interaction; returns its memory id."""
        return self._store_one(agent_id, interaction_data, step_number, priority, "interaction", tier)

    def _store_one(self, agent_id: str, content: dict, step_number: int, priority: float, mtype: str,
                   tier: str) -> str:
        if type(agent_id) is not str or not agent_id or not agent_id.isascii():
            agent_id = check.agent_id(agent_id)
        if type(step_number) is not int or not 0 <= step_number <= _MAX_STEP:
            step_number = check.step(step_number)
        if type(priority) is not float or not 0.0 <= priority < math.inf:
            priority = check.priority(priority)
        if type(content) is not dict:
            check.content(content, f"{mtype}_data")
        if tier != "stm":
            tier = check.tier(tier)
        with self._lock:
            if self._closed:
                self._check_open()
            rec = self.tiers[tier].write(agent_id, (content,), (step_number,), (priority,), mtype)[0]
            self._after_insert(agent_id, 1)
        return rec.memory_id

    def store_agent_states(self, agent_id: str, states: Sequence[dict], step_numbers: Optional[Sequence[int]] = None,
                           priorities: Optional[Sequence[float]] = None, tier: str = "stm",
                           memory_type: str = "state") -> list[str]:
        """Store many states of one agent at once (same effect as the loop, much faster); returns ids."""
        agent_id = check.agent_id(agent_id)
        states = check.contents(states, "states")
        if step_numbers is None:
            with self._lock:
                base = self._next_step(agent_id)
            step_numbers = range(base, base + len(states))
        step_numbers = check.steps(step_numbers)
        priorities = [1.0] * len(states) if priorities is None else \
            [check.priority(p, f"priorities[{i}]") for i, p in enumerate(check.sequence(priorities, "priorities"))]
        if not len(step_numbers) == len(priorities) == len(states):
            raise InvalidValueError(f"states, step_numbers and priorities differ in length: "
                                    f"{len(states)}, {len(step_numbers)}, {len(priorities)}")
        check.memory_type(memory_type)
        tier = check.tier(tier)
        with self._lock:
            self._check_open()
            records = self.tiers[tier].write(agent_id, states, step_numbers, priorities, memory_type or "state")
            self._after_insert(agent_id, len(records))
        return [r.memory_id for r in records]

    def _next_step(self, agent_id: str) -> int:
        return max((t.local_index(agent_id).max_step for t in (self.stm, self.im)), default=-1) + 1

    def _after_insert(self, agent_id: str, count: int) -> None:
        """Count inserts; every cleanup_interval of them run the agent's transitions. The memories are
        stored by then, so a failing transition is logged and counted, never raised (the caller gets its ids)."""
        state = self._agents.get(agent_id)
        if state is None:
            state = self._agents[agent_id] = AgentState()
        state.inserts_since_check += count
        if state.inserts_since_check >= self.config.cleanup_interval:
            with blas_limit(self.config.blas_threads):
                self._maintain(agent_id, state, raise_unreachable=False)

    def _maintain(self, agent_id: str, state: AgentState, raise_unreachable: bool) -> Optional[dict[str, int]]:
        """One agent's transitions; None when they failed: logged as a warning, counted, retried after
        another cleanup_interval inserts. A store that cannot be reached (StorageError, not CorruptDataError)
        is nobody's agent's fault: raised when `raise_unreachable`."""
        try:
            return maintain_agent(self.stm, self.im, self.ltm, agent_id, state, self.config)
        except Exception as exc:
            if raise_unreachable and isinstance(exc, StorageError) and not isinstance(exc, CorruptDataError):
                raise
            state.inserts_since_check = 0
            self._maintenance_failures[agent_id] = self._maintenance_failures.get(agent_id, 0) + 1
            import logging  # here, not at the top: importing it costs startup ~4 ms, and failures are rare
            logging.getLogger(__name__).warning(
                "maintenance of agent %r failed (%s: %s); its memories stay where they are, the other agents "
                "are maintained", agent_id, type(exc).__name__, exc)
            return None

    # -- reading -------------------------------------------------------------------------------
    def retrieve_state(self, memory_id: str, agent_id: Optional[str] = None, tier: Optional[str] = None) -> Optional[dict]:
        """The memory with this id (from `tier`, or whichever holds it), or None; IM/LTM content is lossy."""
        if type(memory_id) is not str or not memory_id.isascii():
            check.memory_id(memory_id)
        if agent_id is not None:
            check.agent_id(agent_id)
        with self._lock:
            if self._closed:
                self._check_open()
            for t in (self._all_tiers if tier is None else self._tiers_for(tier)):
                rec = t.store.get(memory_id)
                if rec is not None and (agent_id is None or rec.agent_id == agent_id):
                    t.note_retrievals((rec,), time.time())
                    return t.memory(rec)
            return None

    @_locked
    def retrieve_states(self, memory_ids: Sequence[str], agent_id: Optional[str] = None,
                        tier: Optional[str] = None) -> list[Optional[dict]]:
        """Many memories by id, in order, None where absent."""
        self._check_open()
        memory_ids = check.sequence(memory_ids, "memory_ids")
        if agent_id is not None:
            check.agent_id(agent_id)
        out: list[Optional[dict]] = [None] * len(memory_ids)
        todo = {i: check.memory_id(m) for i, m in enumerate(memory_ids)}
        now = time.time()
        for t in self._tiers_for(tier):
            if not todo:
                break
            keys = list(todo)
            recs = t.store.get_many([todo[i] for i in keys])
            found = []
            for i, rec in zip(keys, recs):
                if rec is not None and (agent_id is None or rec.agent_id == agent_id):
                    found.append(rec)
                    out[i] = t.memory(rec)
                    del todo[i]
            if found:
                t.note_retrievals(found, now)
        return out

    @_locked
    def retrieve_similar_states(self, agent_id: str, query_state: dict, k: int = 5, tier: str = "all",
                                memory_type: Optional[str] = None, threshold: Optional[float] = None) -> list[dict]:
        """The k memories most similar to `query_state`, best first, each with its cosine `similarity`."""
        self._check_open()
        agent_id = check.agent_id(agent_id)
        k = check.positive_int(k, "k")
        tier = check.tier(tier, allow_all=True)
        code = TYPE_CODES[check.memory_type(memory_type)] if memory_type is not None else None
        threshold = check.threshold(threshold)
        query = self.encoder.encode(check.content(query_state, "query_state"))
        hits: list[tuple[float, int, str]] = []
        tiers = _TIER_ORDER if tier == "all" else (tier,)
        indexes = [(rank, self.tiers[name], self.tiers[name].index(agent_id)) for rank, name in enumerate(tiers)]
        large = max(len(idx) for _, _, idx in indexes) >= LARGE_SEARCH_ROWS
        with blas_limit(self.config.blas_threads) if large else contextlib.nullcontext():
            for rank, t, idx in indexes:
                if len(idx):  # k beyond the rows means all of them (and never a huge int into numpy)
                    ids, sims = idx.search(t.query_vector(query), min(k, len(idx)), code, threshold)
                    hits.extend(zip(sims.tolist(), [rank] * len(ids), ids))
        hits.sort(key=lambda h: (-h[0], h[1]))
        fetched: dict = {}  # the hits' records, one get_many per tier (one round trip on a shared store)
        for rank in {h[1] for h in hits}:
            mids = [h[2] for h in hits if h[1] == rank]
            fetched.update(zip([(rank, m) for m in mids], self.tiers[tiers[rank]].store.get_many(mids)))
        seen: set[str] = set()
        out: list[dict] = []
        now = time.time()
        for sim, rank, mid in hits:
            if mid in seen:
                continue
            t = self.tiers[tiers[rank]]
            rec = fetched[(rank, mid)]
            if rec is None:
                continue
            content = t.content_or_skip(rec)  # damaged: skipped (warned once, counted), never the whole search
            if content is None:
                continue
            seen.add(mid)
            t.note_retrievals((rec,), now)
            memory = to_memory(rec, t.name, content)
            memory["similarity"] = float(sim)
            out.append(memory)
            if len(out) == k:
                break
        return out

    @_locked
    def retrieve_by_time_range(self, agent_id: str, start_step: int, end_step: int,
                               memory_type: Optional[str] = None) -> list[dict]:
        """Memories with start_step <= step <= end_step across tiers, by step."""
        self._check_open()
        agent_id = check.agent_id(agent_id)
        start_step, end_step = check.query_step(start_step, "start_step"), check.query_step(end_step, "end_step")
        if end_step < start_step:
            raise InvalidValueError(f"end_step ({end_step}) is before start_step ({start_step})")
        mtype = check.memory_type(memory_type)
        out: list[dict] = []
        for t in self._all_tiers:  # damaged content skipped (warned once, counted)
            out.extend(t.memories(t.records_in_steps(agent_id, start_step, end_step, mtype)))
        out.sort(key=lambda m: m["step_number"])
        return out

    @_locked
    def retrieve_by_attributes(self, agent_id: str, attributes: dict) -> list[dict]:
        """Memories whose content equals every given value; keys are top-level or dotted paths ('goals.0.id')."""
        self._check_open()
        agent_id = check.agent_id(agent_id)
        query = parse_attributes(attributes)
        out: list[dict] = []
        for name in _TIER_ORDER:
            t = self.tiers[name]
            verbatim = t.codec.verbatim_strings
            for rec in t.store.records(agent_id):
                if not query.might_match(rec.content, verbatim):
                    continue
                content = t.content_or_skip(rec)
                if content is not None and matches_attributes(content, query):
                    out.append(to_memory(rec, name, content))
        out.sort(key=lambda m: m["step_number"])
        return out

    @_locked
    def memory_exists(self, memory_id: str, tier: Optional[str] = None) -> bool:
        """Whether any tier (or the given one) holds this memory."""
        self._check_open()
        check.memory_id(memory_id)
        return any(t.store.get(memory_id) is not None for t in self._tiers_for(tier))

    def _tiers_for(self, tier: Optional[str]) -> list[Tier]:
        name = check.tier(tier, allow_none=True)
        return [self.stm, self.im, self.ltm] if name is None else [self.tiers[name]]

    # -- maintenance, statistics, compression --------------------------------------------------
    @_locked
    def force_memory_maintenance(self, agent_id: Optional[str] = None) -> dict[str, int]:
        """Run tier transitions now (one agent, or all); returns counts forgotten and moved."""
        self._check_open()
        agents = [check.agent_id(agent_id)] if agent_id is not None else self._known_agents()
        total = {"forgotten": 0, "stm_to_im": 0, "im_to_ltm": 0}
        with blas_limit(self.config.blas_threads):
            for a in agents:  # a failing agent is logged, counted and skipped: the others are still maintained
                report = self._maintain(a, self._agents.setdefault(a, AgentState()), raise_unreachable=True)
                for key, value in (report or {}).items():
                    total[key] += value
        for t in self._all_tiers:  # buffered retrieval counts are persisted by maintenance
            t.store.flush_touches()
        return total

    def _known_agents(self) -> list[str]:
        seen = dict.fromkeys(self._agents)
        for t in self.tiers.values():
            seen.update(dict.fromkeys(t.store.agent_ids()))
        return list(seen)

    @_locked
    def get_memory_statistics(self, agent_id: str) -> dict[str, Any]:
        """Per tier: count, stored bytes, raw bytes, compression ratio, embedding size; plus forgotten and moves."""
        self._check_open()
        agent_id = check.agent_id(agent_id)
        tiers: dict[str, dict[str, Any]] = {}
        for name, t in self.tiers.items():
            count = t.store.count(agent_id)
            stored, raw = t.store.stored_bytes(agent_id)
            tiers[name] = {
                "count": count,
                "stored_bytes": stored,
                "raw_bytes": raw,
                "compression_ratio": (raw / stored) if stored else None,
                "embedding_dim": t.dim,
                "embedding_bytes": count * t.dim * 4,
                "corrupt_skipped": t.corrupt_skipped(agent_id),  # damaged records searches/listings skipped
            }
        state = self._agents.get(agent_id, AgentState())
        return {
            "agent_id": agent_id,
            "tiers": tiers,
            "total_memories": sum(v["count"] for v in tiers.values()),
            "forgotten": state.forgotten,
            "transitions": {"stm_to_im": state.stm_to_im, "im_to_ltm": state.im_to_ltm},
            "maintenance_failures": self._maintenance_failures.get(agent_id, 0),
            # the seed's names, for code written against it
            "state_counts": {name: v["count"] for name, v in tiers.items()},
            "memory_usage": {f"{name}_bytes": v["stored_bytes"] for name, v in tiers.items()},
        }

    def get_encoder(self, tier: str = "stm") -> TierEncoder:
        """The encoder of a tier: `encode(state)` → its embedding, `decode(embedding)` → a state vector."""
        name = check.tier(tier)
        return TierEncoder(self.encoder, {"stm": None, "im": self._im_ae, "ltm": self._ltm_ae}[name])

    @_locked
    def train_compression(self, states: Optional[Sequence[dict]] = None, epochs: int = 10,
                          batch_size: Optional[int] = None) -> dict[str, Any]:
        """Train the IM and LTM autoencoders (on `states`, else on every STM memory) and re-embed IM/LTM."""
        self._check_open()
        epochs = check.positive_int(epochs, "epochs")
        batch_size = None if batch_size is None else check.positive_int(batch_size, "batch_size")
        started = time.perf_counter()
        if states is not None:
            x = self.encoder.encode_states(check.sequence(states, "states"))
        else:
            parts = []
            for a in list(self.stm.store.agent_ids()):
                idx = self.stm.index(a)
                idx.flush()
                parts.append(idx.vecs[: idx.n])
            x = np.concatenate(parts) if parts else np.zeros((0, self.encoder.dim), dtype=np.float32)
        if len(x) < 2:
            raise InvalidValueError("train_compression needs at least 2 states (pass states= or store some first)")
        ae = self.config.autoencoder_config
        bs = batch_size or ae.batch_size
        report: dict[str, Any] = {"samples": int(len(x)), "epochs": epochs, "tiers": {}}
        with blas_limit(self.config.blas_threads):
            for name, model in (("im", self._im_ae), ("ltm", self._ltm_ae)):
                before = model.reconstruction_mse(x)
                losses = model.fit(x, epochs=epochs, batch_size=bs, learning_rate=ae.learning_rate)
                report["tiers"][name] = {"loss_per_epoch": losses, "final_loss": losses[-1],
                                         "initial_mse": before, "final_mse": model.reconstruction_mse(x)}
            self._reembed(self.im)
            self._reembed(self.ltm)
        self._save_encoders()
        report["seconds"] = time.perf_counter() - started
        return report

    @staticmethod
    def _reembed(tier: Tier) -> None:
        """Recompute a tier's embeddings with its retrained projection (from the stored content)."""
        for a in list(tier.store.agent_ids()):
            tier.reembed(a)

    def _save_encoders(self) -> None:
        store = self.ltm.store
        store.set_meta("im_autoencoder", self._im_ae.to_bytes())
        store.set_meta("ltm_autoencoder", self._ltm_ae.to_bytes())

    def _load_encoders(self, store: LTMStore) -> None:
        for key, model in (("im_autoencoder", self._im_ae), ("ltm_autoencoder", self._ltm_ae)):
            blob = store.get_meta(key)
            if blob is not None:
                model.load_bytes(blob, f"{store.where}, meta {key!r}")  # CorruptDataError if damaged

    @_locked
    def clear_all_memories(self) -> None:
        """Delete every memory of every agent in this system (its namespace and LTM file only)."""
        self._check_open()
        for t in self.tiers.values():
            t.clear()
        self._agents.clear()
        self._maintenance_failures.clear()

    def _check_open(self) -> None:
        if self._closed:
            raise AgentMemoryError("this AgentMemorySystem is closed")
