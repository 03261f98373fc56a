"""Importance at store time and the retention score that decides what leaves a tier.

importance = w_priority · priority + w_reward · |tanh(reward)|
retention  = importance · (1 + w_novelty · novelty) · 0.5 ** (age / half_life) + w_retrieval · ln(1 + retrievals)

novelty = clip(1 − cos(memory, tier centroid), 0, 1) boosts what the agent already deemed important but
never rescues a memory of priority 0; age = agent's newest step − memory's step.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .config import ImportanceWeights


def importance_score(state: Any, priority: float, weights: ImportanceWeights) -> float:
    """Importance of a new memory: explicit priority plus the size of a top-level 'reward', if any."""
    score = weights.priority * priority
    if type(state) is dict:
        reward = state.get("reward")
        if type(reward) in (int, float) and math.isfinite(reward):
            score += weights.reward * abs(math.tanh(reward))
    return score


def retention_scores(importance: np.ndarray, vecs: np.ndarray, centroid: np.ndarray, steps: np.ndarray,
                     current_step: int, retrievals: np.ndarray, weights: ImportanceWeights) -> np.ndarray:
    """Retention score of each row: high stays, low leaves the tier first (see module doc)."""
    novelty = np.clip(1.0 - vecs @ centroid, 0.0, 1.0) if len(vecs) else np.zeros(0)
    age = np.maximum(current_step - steps, 0).astype(np.float64)
    decay = np.exp2(-age / weights.half_life_steps)
    return (importance * (1.0 + weights.novelty * novelty) * decay
            + weights.retrieval * np.log1p(retrievals.astype(np.float64)))
