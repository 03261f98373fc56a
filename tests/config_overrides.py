"""One way for test fixtures to set tier limits and paths on a MemoryConfig."""

from __future__ import annotations

from typing import Optional

from memory import MemoryConfig


def apply_overrides(config: MemoryConfig, *, stm_limit: Optional[int] = None, im_limit: Optional[int] = None,
                    ltm_limit: Optional[int] = None, stm_ttl: Optional[float] = None, im_ttl: Optional[float] = None,
                    cleanup_interval: Optional[int] = None, db_path: Optional[str] = None) -> MemoryConfig:
    """Set the given (non-None) limits, TTLs, cleanup interval and LTM path; returns the config."""
    for section, name, value in (("stm_config", "memory_limit", stm_limit), ("im_config", "memory_limit", im_limit),
                                 ("ltm_config", "memory_limit", ltm_limit), ("stm_config", "ttl", stm_ttl),
                                 ("im_config", "ttl", im_ttl), ("ltm_config", "db_path", db_path)):
        if value is not None:
            setattr(getattr(config, section), name, value)
    if cleanup_interval is not None:
        config.cleanup_interval = cleanup_interval
    return config
