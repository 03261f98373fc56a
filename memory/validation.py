"""Argument checks shared by the system and the API facade: one clear message per mistake."""

from __future__ import annotations

import math
from typing import Any, Optional

from .errors import InvalidMemoryError, InvalidValueError

TIERS = ("stm", "im", "ltm")


def agent_id(value: Any) -> str:
    """A non-empty str agent id."""
    if type(value) is not str:
        raise InvalidMemoryError(f"agent_id must be a str; got {type(value).__name__}")
    if not value:
        raise InvalidValueError("agent_id must not be empty")
    return value


def step(value: Any, name: str = "step_number") -> int:
    """A non-negative int step."""
    if type(value) is not int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidMemoryError(f"{name} must be an int; got {type(value).__name__}")
        value = int(value)
    if value < 0:
        raise InvalidValueError(f"{name} must be >= 0; got {value}")
    return value


def priority(value: Any) -> float:
    """A finite, non-negative priority."""
    if type(value) is not float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidMemoryError(f"priority must be a number; got {type(value).__name__}")
        value = float(value)
    if not (value >= 0 and value != math.inf):
        raise InvalidValueError(f"priority must be a finite number >= 0; got {value}")
    return value


def tier(value: Any, allow_all: bool = False, allow_none: bool = False) -> Optional[str]:
    """A tier name: stm | im | ltm (and 'all' or None where allowed)."""
    if value is None and allow_none:
        return None
    allowed = TIERS + (("all",) if allow_all else ())
    if value not in allowed:
        raise InvalidValueError(f"tier must be one of {', '.join(allowed)}{' or None' if allow_none else ''}; got {value!r}")
    return value


def memory_type(value: Any) -> Optional[str]:
    """None or one of state | action | interaction."""
    if value is None:
        return None
    if value not in ("state", "action", "interaction"):
        raise InvalidValueError(f"memory_type must be state, action, interaction or None; got {value!r}")
    return value


def positive_int(value: Any, name: str) -> int:
    """An int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMemoryError(f"{name} must be an int; got {type(value).__name__}")
    if value < 1:
        raise InvalidValueError(f"{name} must be >= 1; got {value}")
    return value


def memory_id(value: Any) -> str:
    """A str memory id."""
    if type(value) is not str:
        raise InvalidMemoryError(f"memory_id must be a str; got {type(value).__name__}")
    return value


def threshold(value: Any) -> Optional[float]:
    """None or a finite similarity threshold."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidValueError(f"threshold must be a finite number or None; got {value!r}")
    return float(value)
