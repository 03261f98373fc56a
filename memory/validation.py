"""Argument checks shared by the system and the API facade: one clear message per mistake.

What is rejected here is what a later tier could not store: str with lone surrogates (UTF-8, hence JSON,
SQLite and Redis, cannot encode them), steps beyond 2**53 (an agent index writes a run of new rows through
a float64 array; SQLite's INTEGER and the Redis record header hold int64), ints of more digits than JSON
may write, and floats that are not finite or that IM/LTM rounding would make infinite. Checks are cheap on
the hot path: an ASCII str (`isascii` is O(1)) needs no surrogate scan, an int64 no length check.
"""

from __future__ import annotations

import math
import re
import struct
import sys
from typing import Any, Callable, Iterable, Optional, Sequence

from .entry import MEMORY_TYPES
from .errors import InvalidMemoryError, InvalidValueError

TIERS = ("stm", "im", "ltm")
INT64_MAX = 2**63 - 1  # SQLite INTEGER, the Redis record header: the bound of a step range in a query
MAX_STEP = 2**53  # the largest stored step: every step up to it is exact in float64 (the index's pending rows)
MAX_INT_DIGITS = 4300  # Python's default int <-> str limit: JSON (IM, LTM, STM on Redis) needs the str form
_LOG10_2 = math.log10(2)
_SURROGATE = re.compile("[\ud800-\udfff]")
_digit_limits: dict[int, int] = {}  # digits -> 10 ** digits, the smallest int with one digit too many


def has_surrogate(text: str) -> bool:
    """Whether `text` holds a lone surrogate code point, which UTF-8 cannot encode (O(1) for ASCII)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def int_digit_limit() -> int:
    """Most decimal digits an int may have: 4300, or less where this process lowered its int/str limit."""
    limit = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    return MAX_INT_DIGITS if limit <= 0 else min(limit, MAX_INT_DIGITS)


def int_too_long(value: int) -> bool:
    """Whether an int has more digits than JSON may write (`int_digit_limit`); its bit length decides
    all but the ints near the limit."""
    digits = int_digit_limit()
    if value.bit_length() * _LOG10_2 < digits - 1:  # fewer than 10 ** (digits - 1): at most `digits` digits
        return False
    bound = _digit_limits.get(digits)
    if bound is None:
        bound = _digit_limits[digits] = 10**digits
    return value >= bound or -value >= bound


def float_limit(roundings: Sequence[Callable[[float], float]]) -> float:
    """The smallest positive float that one of `roundings` (a tier's float rounding, or a chain of them)
    takes to infinity, or inf if none does: 1.8e308 is 1.7976931348623157e308 to 2 digits, and JSON has
    no Infinity. Rounding is monotonic, so a binary search over the bit patterns of floats finds it
    (from 1e307, which no rounding to 1 digit or more takes past 1e308)."""
    def overflows(bits: int) -> bool:
        x = struct.unpack("<d", struct.pack("<Q", bits))[0]
        return any(math.isinf(r(x)) for r in roundings)

    lo, hi = struct.unpack("<Q", struct.pack("<d", 1e307))[0], struct.unpack("<Q", struct.pack("<d", sys.float_info.max))[0]
    if not overflows(hi):
        return math.inf
    while lo + 1 < hi:  # invariant: lo does not overflow, hi does
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if overflows(mid) else (mid, hi)
    return struct.unpack("<d", struct.pack("<Q", hi))[0]


def show(value: Any, limit: int = 80) -> str:
    """A short repr for an error message that never fails (huge ints, odd __repr__)."""
    if issubclass(type(value), int) and type(value) is not bool and int.bit_length(value) > 64:
        return f"an int of {int.bit_length(value)} bits"
    try:
        text = repr(value)
    except Exception:
        return f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text(value: str, name: str) -> str:
    """A str that UTF-8 can encode (no lone surrogates)."""
    if has_surrogate(value):
        raise InvalidValueError(f"{name} holds a lone surrogate, which UTF-8 cannot encode; got {show(value)}")
    return value


def content(value: Any, name: str) -> dict:
    """A memory's content or a query: a dict (its values are checked by the encoder's walk)."""
    if not isinstance(value, dict):
        raise InvalidMemoryError(f"{name} must be a dict; got {type(value).__name__}")
    return value


def contents(values: Any, name: str = "states") -> list:
    """A list of contents, each a dict (named `name[i]` when one is not)."""
    values = sequence(values, name)
    for i, value in enumerate(values):
        if type(value) is not dict:
            content(value, f"{name}[{i}]")
    return values


def agent_id(value: Any) -> str:
    """A non-empty str agent id, encodable as UTF-8."""
    if type(value) is not str:
        raise InvalidMemoryError(f"agent_id must be a str; got {type(value).__name__}")
    if not value:
        raise InvalidValueError("agent_id must not be empty")
    return text(value, "agent_id")


def step(value: Any, name: str = "step_number", upper: int = MAX_STEP) -> int:
    """An int step in 0..`upper`: 2**53 for a stored step, 2**63 - 1 (int64) for the bound of a query."""
    if type(value) is not int:
        if not _is_int(value):
            raise InvalidMemoryError(f"{name} must be an int; got {type(value).__name__}")
        value = int.__int__(value)  # the int's own value, not what an overridden __int__ says
    if value < 0:
        raise InvalidValueError(f"{name} must be >= 0; got {show(value)}")
    if value > upper:
        bound = "2**53 (a stored step is exact in float64)" if upper == MAX_STEP else f"{upper} (int64)"
        raise InvalidValueError(f"{name} must be <= {bound}; got {show(value)}")
    return value


def query_step(value: Any, name: str) -> int:
    """The bound of a step range: an int in 0..2**63 - 1 (sys.maxsize works as "no end")."""
    return step(value, name, INT64_MAX)


def steps(values: Any, name: str = "step_numbers") -> list[int]:
    """A sequence of steps as a list (the fast path checks each plain int with two comparisons)."""
    return [v if type(v) is int and 0 <= v <= MAX_STEP else step(v, f"{name}[{i}]")
            for i, v in enumerate(sequence(values, name))]


def priority(value: Any, name: str = "priority") -> float:
    """A finite, non-negative priority."""
    if type(value) is not float:
        if not _is_number(value):
            raise InvalidMemoryError(f"{name} must be a number; got {type(value).__name__}")
        value = _as_float(value)
    if not (value >= 0 and value != math.inf):
        raise InvalidValueError(f"{name} must be a finite number >= 0; got {show(value)}")
    return value


def _is_int(value: Any) -> bool:
    """An int or int subclass, not a bool (by its type: a __class__ property cannot fake it)."""
    return issubclass(type(value), int) and type(value) is not bool


def _is_number(value: Any) -> bool:
    """An int or float (or subclass), not a bool."""
    return _is_int(value) or issubclass(type(value), float)


def _as_float(value: Any) -> float:
    """An int or float (or subclass) as a float; inf for an int beyond the float range."""
    if issubclass(type(value), float):
        return float.__float__(value)
    try:
        return int.__float__(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def tier(value: Any, allow_all: bool = False, allow_none: bool = False) -> Optional[str]:
    """A tier name: stm | im | ltm (and 'all' or None where allowed)."""
    if value is None and allow_none:
        return None
    allowed = TIERS + (("all",) if allow_all else ())
    if type(value) is not str or value not in allowed:
        raise InvalidValueError(f"tier must be one of {', '.join(allowed)}{' or None' if allow_none else ''}; "
                                f"got {show(value)}")
    return value


def memory_type(value: Any) -> Optional[str]:
    """None or one of state | action | interaction."""
    if value is None:
        return None
    if type(value) is not str or value not in MEMORY_TYPES:
        raise InvalidValueError(f"memory_type must be state, action, interaction or None; got {show(value)}")
    return value


def positive_int(value: Any, name: str) -> int:
    """An int >= 1."""
    if not _is_int(value):
        raise InvalidMemoryError(f"{name} must be an int; got {type(value).__name__}")
    value = int.__int__(value)
    if value < 1:
        raise InvalidValueError(f"{name} must be >= 1; got {show(value)}")
    return value


def memory_id(value: Any) -> str:
    """A str memory id, encodable as UTF-8."""
    if type(value) is not str:
        raise InvalidMemoryError(f"memory_id must be a str; got {type(value).__name__}")
    return text(value, "memory_id")


def threshold(value: Any) -> Optional[float]:
    """None or a finite similarity threshold."""
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(_as_float(value)):
        raise InvalidValueError(f"threshold must be a finite number or None; got {show(value)}")
    return _as_float(value)


def sequence(value: Any, name: str) -> list:
    """A list, tuple or other iterable of items as a list (not a dict, str or bytes, whose items are no items)."""
    if isinstance(value, (dict, str, bytes, bytearray)) or not isinstance(value, Iterable):
        raise InvalidMemoryError(f"{name} must be a list; got {type(value).__name__}")
    return list(value)
