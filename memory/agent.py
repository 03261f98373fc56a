"""Per-agent bookkeeping: write counts that trigger maintenance, and what transitions did."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AgentState:
    """Counters of one agent in one system (tiers themselves are shared, partitioned by agent)."""

    inserts_since_check: int = 0
    forgotten: int = 0
    stm_to_im: int = 0
    im_to_ltm: int = 0
