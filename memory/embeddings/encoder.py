"""Deterministic state encoder: any JSON-like state → a unit float32 vector (feature hashing).

Each leaf is keyed by its path (`goals.0.id`). A number x at a path adds six features at a
path-determined offset: cos and sin of ω·y for ω in (1, 4, 16), where y = sign(x)·log1p(|x|), so
the dot product of two states' number features is a shift-invariant kernel of their values: equal
values score 1, close values high, distant ones low. A string adds one ±1 feature per lower-cased
word token (`item1`, `idle`), bool and None count as the tokens true/false/null. Offsets and signs
come from CRC-32 of the path text, never Python's randomised `hash`, so every process agrees.

The walk that extracts features is also the validator: anything a tier cannot store raises before
anything is stored — types JSON cannot hold, NaN and Infinity, str with lone surrogates (keys and
values: UTF-8 cannot encode them), ints of more than 4300 digits (JSON cannot write them). The walk runs
no code of the state's own objects: subclasses of JSON types are read through the base type's methods,
the way the serializers read them.
"""

from __future__ import annotations

import math
import re
import sys
import zlib
from typing import Any, Optional, Sequence

import numpy as np

from ..errors import InvalidMemoryError, InvalidValueError
from ..validation import has_surrogate, int_digit_limit, int_too_long, show

MAX_DEPTH = 64
LIST_POSITIONS = 16  # list items from this index on share one path (a bag of values)
OMEGAS = np.array([1.0, 4.0, 16.0])
NUMBER_WIDTH = 2 * len(OMEGAS)  # features one number adds
_NUMBER_WEIGHT = 1.0 / math.sqrt(len(OMEGAS))  # one number's features have unit norm
_TOKEN = re.compile(r"\w+")
_STRING_CACHE_LIMIT = 50_000  # distinct strings remembered per path
_INT64_MIN, _INT64_MAX = -2**63, 2**63 - 1  # ints beyond these get the digit check (as in the compiled walk)


class _PySlot:
    """One path in the state tree, with its cached feature offsets (the compiled module has a twin)."""

    __slots__ = ("path", "base", "children", "items", "strings")

    def __init__(self, path: str, base: int) -> None:
        self.path = path
        self.base = base  # first feature offset of a number at this path
        self.children: dict[str, Any] = {}
        self.items: list[Any] = []
        self.strings: dict[str, tuple[list[int], list[float]]] = {}


try:  # the compiled walk (built by `pip install`); the Python walk below is the reference and the fallback
    from ._speedups import Slot as _Slot, vectors as _native_vectors, walk as _native_walk
except ImportError:  # pragma: no cover - only where no C compiler was available at install time
    _Slot, _native_walk, _native_vectors = _PySlot, None, None  # type: ignore[assignment,misc]

NATIVE_WALK = _native_walk is not None  # whether feature extraction runs compiled in this process


class Features:
    """Features of a run of states, appended by `StateEncoder.add_features`, turned into vectors later."""

    __slots__ = ("idx", "wt", "nidx", "nval", "ends", "nends")

    def __init__(self) -> None:
        self.idx: list[int] = []    # string-token feature indices
        self.wt: list[float] = []   # their weights
        self.nidx: list[int] = []   # number feature base offsets
        self.nval: list[float] = [] # the numbers
        self.ends: list[int] = []   # len(idx) after each state
        self.nends: list[int] = []  # len(nidx) after each state

    def __len__(self) -> int:
        return len(self.ends)

    def clear(self) -> None:
        """Forget every state's features."""
        self.keep(0)

    def truncate(self, n_idx: int, n_num: int) -> None:
        """Drop the features appended after the first `n_idx` token and `n_num` number features."""
        del self.idx[n_idx:], self.wt[n_idx:], self.nidx[n_num:], self.nval[n_num:]

    def keep(self, n_states: int) -> None:
        """Forget every state after the first `n_states` (a store that failed after their features were added)."""
        ends, nends = self.ends, self.nends
        self.truncate(ends[n_states - 1] if n_states else 0, nends[n_states - 1] if n_states else 0)
        del ends[n_states:], nends[n_states:]


class StateEncoder:
    """Maps a state (nested dicts/lists of str, int, float, bool, None) to a unit vector of `dim`."""

    def __init__(self, dim: int = 384, native: Optional[bool] = None, max_float: float = math.inf) -> None:
        """`native`: use the compiled walk (default: when built); False forces the Python reference.
        `max_float`: floats of this magnitude or more are rejected (the tiers' rounding would make them inf)."""
        if dim < NUMBER_WIDTH:
            raise InvalidValueError(f"encoder dim must be at least {NUMBER_WIDTH}")
        if native and not NATIVE_WALK:
            raise InvalidValueError("the compiled feature walk is not built in this install")
        self.dim = dim
        self.max_float = float(max_float)
        self._native = _native_walk if native is not False else None
        self._slot_type = _Slot if self._native is not None else _PySlot
        self._root = self._new_slot("")

    # -- validation + feature extraction (the hot path) ----------------------------------------
    def add_features(self, state: Any, feats: Features) -> None:
        """Validate one state and append its features to `feats`; on bad input nothing is appended."""
        if type(state) is not dict:
            if not isinstance(state, dict):
                raise InvalidMemoryError(f"a state must be a dict; got {type(state).__name__}")
        n_idx, n_num = len(feats.idx), len(feats.nidx)
        try:
            if self._native is not None and type(state) is dict:
                self._native(self, state, self._root, feats.idx, feats.wt, feats.nidx, feats.nval, self.max_float)
            else:
                self._walk_dict(state, self._root, feats.idx, feats.wt, feats.nidx, feats.nval, 0)
        except RecursionError:
            feats.truncate(n_idx, n_num)
            raise InvalidValueError(f"state nests deeper than {MAX_DEPTH} levels (or is circular)") from None
        except BaseException:
            feats.truncate(n_idx, n_num)
            raise
        feats.ends.append(len(feats.idx))
        feats.nends.append(len(feats.nidx))

    def add_features_many(self, states: Sequence[Any], feats: Features) -> None:
        """`add_features` for each state; on bad input, that state's features and those after it are not appended."""
        native = self._native
        if native is None:
            for state in states:
                self.add_features(state, feats)
            return
        root, idx, wt, nidx, nval, ends, nends = self._root, feats.idx, feats.wt, feats.nidx, feats.nval, feats.ends, feats.nends
        max_float = self.max_float
        for state in states:
            if type(state) is not dict:
                self.add_features(state, feats)
                continue
            try:
                native(self, state, root, idx, wt, nidx, nval, max_float)
            except BaseException:
                feats.truncate(ends[-1] if ends else 0, nends[-1] if nends else 0)
                raise
            ends.append(len(idx))
            nends.append(len(nidx))

    def _walk_dict(self, obj: dict, slot: _Slot, idx: list, wt: list, nidx: list, nval: list, depth: int) -> None:
        if depth > MAX_DEPTH:
            self._too_deep()
        children, max_float = slot.children, self.max_float
        for key, value in dict.items(obj):  # a dict subclass's own items, as the serializers read them
            # only exact str keys are looked up (no subclass __hash__ runs) and cached; _child handles the rest
            child = children.get(key) if type(key) is str else None
            if child is None:
                child = self._child(slot, key)
            t = type(value)
            if t is float:
                if not -max_float < value < max_float:  # NaN fails too
                    self._bad_number(child, value)
                nidx.append(child.base)
                nval.append(value)
            elif t is int:
                if not _INT64_MIN <= value <= _INT64_MAX:
                    self._big_int(child, value)
                nidx.append(child.base)
                nval.append(value)
            elif t is str:
                f = child.strings.get(value)
                if f is None:
                    f = self._string_features(child, value)
                idx.extend(f[0])
                wt.extend(f[1])
            elif t is dict:
                self._walk_dict(value, child, idx, wt, nidx, nval, depth + 1)
            elif t is list or t is tuple:
                self._walk_list(value, child, idx, wt, nidx, nval, depth + 1)
            else:
                self._other(value, child, idx, wt, nidx, nval, depth + 1)

    def _walk_list(self, obj: Sequence, slot: _Slot, idx: list, wt: list, nidx: list, nval: list, depth: int) -> None:
        if depth > MAX_DEPTH:
            self._too_deep()
        items, max_float = slot.items, self.max_float
        n_items = len(items)
        for i, value in enumerate(obj):
            if i < n_items:
                child = items[i]
            elif i < LIST_POSITIONS or n_items <= LIST_POSITIONS:
                child = self._item(slot, min(i, LIST_POSITIONS))
                n_items = len(items)
            else:
                child = items[LIST_POSITIONS]
            t = type(value)
            if t is float:
                if not -max_float < value < max_float:  # NaN fails too
                    self._bad_number(child, value)
                nidx.append(child.base)
                nval.append(value)
            elif t is int:
                if not _INT64_MIN <= value <= _INT64_MAX:
                    self._big_int(child, value)
                nidx.append(child.base)
                nval.append(value)
            elif t is str:
                f = child.strings.get(value)
                if f is None:
                    f = self._string_features(child, value)
                idx.extend(f[0])
                wt.extend(f[1])
            elif t is dict:
                self._walk_dict(value, child, idx, wt, nidx, nval, depth + 1)
            elif t is list or t is tuple:
                self._walk_list(value, child, idx, wt, nidx, nval, depth + 1)
            else:
                self._other(value, child, idx, wt, nidx, nval, depth + 1)

    def _other(self, value: Any, slot: _Slot, idx: list, wt: list, nidx: list, nval: list, depth: int) -> None:
        """bool, None, and subclasses of the JSON types (IntEnum, OrderedDict, str subclasses).

        Subclasses are read through their base type (`float.__float__`, `str.__str__`, `dict.items`, ...),
        and tested with issubclass(type(...)), which no __class__ property can fool: no code of theirs runs."""
        t = type(value)
        if value is None or t is bool:
            f = slot.strings.get(_LITERALS[value])
            if f is None:
                f = self._string_features(slot, _LITERALS[value])
            idx.extend(f[0])
            wt.extend(f[1])
        elif issubclass(t, float):
            number = float.__float__(value)  # its own value, not what an overridden __float__ says
            if not -self.max_float < number < self.max_float:
                self._bad_number(slot, number)
            nidx.append(slot.base)
            nval.append(number)
        elif issubclass(t, int):
            number = int.__int__(value)
            if not _INT64_MIN <= number <= _INT64_MAX:
                self._big_int(slot, number)
            nidx.append(slot.base)
            nval.append(_clamped_float(number))
        elif issubclass(t, str):
            f = self._string_features(slot, str.__str__(value))
            idx.extend(f[0])
            wt.extend(f[1])
        elif issubclass(t, dict):
            self._walk_dict(value, slot, idx, wt, nidx, nval, depth)
        elif issubclass(t, list):
            self._walk_list(list.copy(value), slot, idx, wt, nidx, nval, depth)
        elif issubclass(t, tuple):
            self._walk_list(tuple.__getitem__(value, slice(None)), slot, idx, wt, nidx, nval, depth)
        else:
            raise InvalidMemoryError(
                f"state value at {slot.path!r} has type {type(value).__name__}, which JSON cannot hold "
                "(allowed: dict, list, str, int, float, bool, None)")

    @staticmethod
    def _too_deep() -> None:
        raise InvalidValueError(f"state nests deeper than {MAX_DEPTH} levels (or is circular)")

    def _bad_number(self, slot: Any, value: Any) -> None:
        """A float that is NaN, infinite, or so large that a tier's rounding makes it infinite."""
        if math.isfinite(value):
            raise InvalidValueError(f"state value at {slot.path!r} is {show(value)}; floats must be smaller than "
                                    f"{self.max_float!r} in magnitude (IM/LTM round them, and JSON has no Infinity)")
        raise InvalidValueError(f"state value at {slot.path!r} is {show(value)}; JSON has no NaN or Infinity")

    @staticmethod
    def _big_int(slot: Any, value: int) -> None:
        """An int beyond int64 (both walks call this): rejected when JSON cannot write it."""
        if int_too_long(value):
            raise InvalidValueError(f"state value at {slot.path!r} is an int of more than {int_digit_limit()} "
                                    "digits, which JSON cannot write")

    def _new_slot(self, path: str) -> Any:
        return self._slot_type(path, zlib.crc32(b"v:" + path.encode("utf-8")) % self.dim)

    def _child(self, slot: _Slot, key: Any) -> _Slot:
        """The slot of a key seen for the first time here (or a str subclass key): validated, then cached."""
        if type(key) is not str:
            if not issubclass(type(key), str):
                where = f" under {slot.path!r}" if slot.path else ""
                raise InvalidMemoryError(f"state keys must be strings; got {type(key).__name__} key {show(key)}{where}")
            key = str.__str__(key)  # its own text (what the serializers write), not an overridden __str__
            if key in slot.children:
                return slot.children[key]
        if has_surrogate(key):
            where = f" under {slot.path!r}" if slot.path else ""
            raise InvalidValueError(f"state key {show(key)}{where} holds a lone surrogate, which UTF-8 cannot encode")
        child = self._new_slot(f"{slot.path}.{key}" if slot.path else key)
        slot.children[key] = child
        return child

    def _item(self, slot: _Slot, i: int) -> _Slot:
        while len(slot.items) <= i:
            n = len(slot.items)
            slot.items.append(self._new_slot(f"{slot.path}.{n}" if slot.path else str(n)))
        return slot.items[i]

    def _string_features(self, slot: _Slot, text: str) -> tuple[list[int], list[float]]:
        """Token features of a str seen for the first time at this path: validated, then cached."""
        if has_surrogate(text):
            raise InvalidValueError(f"state value at {slot.path!r} holds a lone surrogate, which UTF-8 cannot "
                                    f"encode: {show(text)}")
        if len(slot.strings) >= _STRING_CACHE_LIMIT:
            slot.strings.clear()
        tokens = _TOKEN.findall(text.lower()) or [text]
        weight = 1.0 / math.sqrt(len(tokens))
        idx: list[int] = []
        wt: list[float] = []
        for tok in tokens:
            h = zlib.crc32(f"t:{slot.path}={tok}".encode("utf-8"))
            idx.append(h % self.dim)
            wt.append(weight if h & 0x80000000 else -weight)
        slot.strings[text] = (idx, wt)
        return idx, wt

    # -- vectors ------------------------------------------------------------------------------
    def encode(self, state: Any) -> np.ndarray:
        """One state → a unit float32 vector of `dim` (all zeros for a state with no leaves)."""
        feats = Features()
        self.add_features(state, feats)
        return self.vectors(feats)[0]

    def encode_states(self, states: Sequence[Any]) -> np.ndarray:
        """Many states → an (n, dim) float32 array of unit rows."""
        feats = Features()
        for state in states:
            self.add_features(state, feats)
        return self.vectors(feats)

    def vectors(self, feats: Features) -> np.ndarray:
        """Turn accumulated features into an (n, dim) float32 array of unit rows."""
        n = len(feats)
        out = np.empty((n, self.dim), dtype=np.float32)
        if self._native is not None:
            _native_vectors(feats.idx, feats.wt, feats.nidx, feats.nval, feats.ends, feats.nends,
                            self.dim, _NUMBER_WEIGHT, out)
            return out
        idx = np.asarray(feats.idx, dtype=np.int64)
        wt = np.asarray(feats.wt, dtype=np.float64)
        nidx = np.asarray(feats.nidx, dtype=np.int64)
        nval = _as_float64(feats.nval)
        ends = np.asarray(feats.ends, dtype=np.int64)
        nends = np.asarray(feats.nends, dtype=np.int64)
        for lo in range(0, n, _CHUNK):  # chunks keep the scratch arrays in cache
            hi = min(n, lo + _CHUNK)
            s0 = ends[lo - 1] if lo else 0
            n0 = nends[lo - 1] if lo else 0
            out[lo:hi] = self._chunk_vectors(
                idx[s0:ends[hi - 1]], wt[s0:ends[hi - 1]], ends[lo:hi] - s0,
                nidx[n0:nends[hi - 1]], nval[n0:nends[hi - 1]], nends[lo:hi] - n0)
        return out

    def _chunk_vectors(self, idx: np.ndarray, wt: np.ndarray, ends: np.ndarray,
                       nidx: np.ndarray, nval: np.ndarray, nends: np.ndarray) -> np.ndarray:
        n, dim = len(ends), self.dim
        row_base = np.arange(n, dtype=np.int64) * dim
        if len(idx):
            flat = np.bincount(idx + np.repeat(row_base, np.diff(ends, prepend=0)), weights=wt, minlength=n * dim)
        else:
            flat = np.zeros(n * dim)
        if len(nidx):
            y = np.log1p(np.abs(nval))
            np.copysign(y, nval, out=y)
            c1, s1 = np.cos(y), np.sin(y)
            c4, s4 = _quadruple(c1, s1)   # cos/sin(4y) and (16y) by double-angle identities:
            c16, s16 = _quadruple(c4, s4)  # exact, and a third of the trigonometry
            values = np.stack([c1, c4, c16, s1, s4, s16], axis=1)
            cols = nidx[:, None] + _WIDTH_RANGE
            cols %= dim
            cols += np.repeat(row_base, np.diff(nends, prepend=0))[:, None]
            flat += np.bincount(cols.ravel(), weights=values.ravel(), minlength=n * dim) * _NUMBER_WEIGHT
        vecs = flat.reshape(n, dim)
        norms = np.sqrt(np.einsum("ij,ij->i", vecs, vecs))
        norms[norms == 0] = 1.0
        vecs /= norms[:, None]
        return vecs


def _as_float64(values: list) -> np.ndarray:
    """Numbers as float64; an int beyond the float range (JSON allows it) becomes the largest float of its sign."""
    try:
        return np.asarray(values, dtype=np.float64)
    except OverflowError:
        return np.array([_clamped_float(v) for v in values], dtype=np.float64)


def _clamped_float(value: Any) -> float:
    try:
        return float(value)
    except OverflowError:
        return sys.float_info.max if value > 0 else -sys.float_info.max


def _quadruple(c: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """cos(4a), sin(4a) from cos(a), sin(a)."""
    c2, s2 = 2 * c * c - 1, 2 * s * c
    return 2 * c2 * c2 - 1, 2 * s2 * c2


_CHUNK = 256
_WIDTH_RANGE = np.arange(NUMBER_WIDTH)
_LITERALS = {None: "null", True: "true", False: "false"}
