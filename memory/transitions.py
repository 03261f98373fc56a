"""Tier transitions: STM → IM (or forgotten) → LTM (or forgotten past the LTM limit)."""

from __future__ import annotations

import time
from typing import Optional

import numpy as np

from .agent import AgentState
from .config import MemoryConfig
from .entry import MemoryRecord
from .importance import retention_scores
from .retrieval.index import VectorIndex
from .tiers import Tier


def _leaving(idx: VectorIndex, limit: Optional[int], ttl: Optional[float], now: float,
             config: MemoryConfig, current_step: int) -> tuple[list[str], np.ndarray]:
    """Ids that must leave a tier (expired, plus the lowest retention over the limit) and their scores."""
    idx.flush()
    n = idx.n
    over = n - limit if limit is not None else 0
    expired = idx.entered[:n] < now - ttl if ttl is not None else np.zeros(n, dtype=bool)
    if over <= 0 and not expired.any():
        return [], np.zeros(0)
    scores = retention_scores(idx.importance[:n], idx.vecs[:n], idx.centroid(), idx.steps[:n],
                              current_step, idx.retrievals[:n], config.importance_weights)
    leave = expired.copy()
    still_over = over - int(expired.sum())
    if still_over > 0:
        candidates = np.flatnonzero(~expired)
        order = candidates[np.argsort(scores[candidates], kind="stable")]
        leave[order[:still_over]] = True
    rows = np.flatnonzero(leave)
    return [idx.ids[r] for r in rows], scores[rows]


def _forget(tier: Tier, agent_id: str, ids: list[str]) -> int:
    """Forget the memories of `ids` this caller claims; returns how many (each counted by one caller only)."""
    claimed = [r.memory_id for r in tier.store.claim(agent_id, ids)]  # none another process is moving
    if claimed:
        tier.remove(agent_id, claimed)
    return len(claimed)


def _move(src: Tier, dst: Tier, agent_id: str, ids: list[str], now: float, full_vecs: Optional[np.ndarray]) -> int:
    """Move the records of `ids` this caller claims to the next tier, re-encoding content and embedding for
    it; returns how many moved. Written to `dst` before leaving `src`, so a failure in between loses nothing."""
    if not ids:
        return 0
    records = src.store.claim(agent_id, ids)
    row = {m: i for i, m in enumerate(ids)}
    keep = [row[r.memory_id] for r in records]
    encoded = dst.reencode_from(src, records)  # None: damaged content, left in src (warned, counted)
    if None in encoded:
        keep = [i for i, e in zip(keep, encoded) if e is not None]
        records = [r for r, e in zip(records, encoded) if e is not None]
        encoded = [e for e in encoded if e is not None]
    if not records:
        return 0
    contents = None
    moved: list[MemoryRecord] = []
    for r, data in zip(records, encoded):
        moved.append(MemoryRecord(r.memory_id, r.agent_id, r.step_number, r.memory_type,
                                  data, r.priority, r.importance,
                                  r.created_at, now, r.last_accessed, r.retrieval_count, r.raw_bytes))
    if full_vecs is not None:
        vecs = dst.project(full_vecs[keep])
    else:  # the source kept only a smaller embedding: embed the (lossy) content afresh
        contents = [dst.codec.decode(m.content) for m in moved]
        vecs = dst.embed_contents(contents)
    dst.add(agent_id, moved, vecs)
    src.remove(agent_id, [r.memory_id for r in records])
    return len(moved)


def maintain_agent(stm: Tier, im: Tier, ltm: Tier, agent_id: str, state: AgentState,
                   config: MemoryConfig, now: Optional[float] = None) -> dict[str, int]:
    """Run one agent's transitions now; returns how many memories were forgotten or moved (counted in
    `state` step by step, so what a failing run did before it failed is counted once)."""
    now = time.time() if now is None else now
    report = {"forgotten": 0, "stm_to_im": 0, "im_to_ltm": 0}
    stm_idx = stm.index(agent_id)
    current = max(stm_idx.max_step, im.index(agent_id).max_step if im.store.count(agent_id) else -1)

    ids, scores = _leaving(stm_idx, config.stm_config.memory_limit, config.stm_config.ttl, now, config, current)
    if ids:
        forget = [m for m, s in zip(ids, scores) if s < config.discard_threshold]
        move = [m for m, s in zip(ids, scores) if s >= config.discard_threshold]
        if move:
            full = stm_idx.take(move)["vecs"]
            _count(report, state, "stm_to_im", _move(stm, im, agent_id, move, now, full))
        if forget:
            _count(report, state, "forgotten", _forget(stm, agent_id, forget))

    im_idx = im.index(agent_id)
    ids, _ = _leaving(im_idx, config.im_config.memory_limit, config.im_config.ttl, now, config, current)
    if ids:
        _count(report, state, "im_to_ltm", _move(im, ltm, agent_id, ids, now, None))

    if config.ltm_config.memory_limit is not None:
        ltm_idx = ltm.index(agent_id)
        ids, _ = _leaving(ltm_idx, config.ltm_config.memory_limit, None, now, config, current)
        if ids:
            _count(report, state, "forgotten", len(ltm.remove(agent_id, ids)))

    state.inserts_since_check = 0
    return report


def _count(report: dict[str, int], state: AgentState, key: str, n: int) -> None:
    """Add `n` to a report entry and the agent's running total at once (a later step that fails keeps it)."""
    report[key] += n
    setattr(state, key, getattr(state, key) + n)
