"""Content codecs: how each tier stores a memory's content, and how lossy it is.

STM keeps content exactly (marshal in-process, JSON on shared stores). IM rounds floats to a
number of significant digits; LTM rounds harder and zlib-compresses. Sizes are the stored bytes.
"""

from __future__ import annotations

import json
import marshal
import zlib
from typing import Any

_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False, check_circular=False)

try:  # orjson: 7x faster JSON on the transition and Redis write paths; stdlib where it declines (ints > 64 bit)
    import orjson

    def json_dumps(obj: Any) -> bytes:
        """Compact JSON bytes."""
        try:
            return orjson.dumps(obj)
        except TypeError:  # ints beyond 64 bits: the stdlib writes them exactly, marked by a leading space
            return b" " + _JSON.encode(obj).encode("utf-8")

    def json_loads(data: bytes) -> Any:
        """Parse JSON bytes (those marked by `json_dumps` with the stdlib, which keeps big ints exact)."""
        if data[:1] == b" ":
            return json.loads(data)
        return orjson.loads(data)
except ImportError:  # pragma: no cover - orjson is a declared dependency
    def json_dumps(obj: Any) -> bytes:
        """Compact JSON bytes."""
        return _JSON.encode(obj).encode("utf-8")

    json_loads = json.loads


def round_floats_py(obj: Any, precision: int) -> Any:
    """A copy of `obj` with every float rounded to `precision` significant digits (the reference)."""
    return _round_floats(obj, f".{precision}g")


def _round_floats(obj: Any, fmt: str) -> Any:
    t = type(obj)
    if t is float:
        return float(format(obj, fmt))
    if t is dict:
        return {k: (float(format(v, fmt)) if type(v) is float else
                    _round_floats(v, fmt) if type(v) in _CONTAINERS else v) for k, v in obj.items()}
    if t is list or t is tuple:
        return [float(format(v, fmt)) if type(v) is float else
                _round_floats(v, fmt) if type(v) in _CONTAINERS else v for v in obj]
    return obj


try:  # the compiled twin (same results, 3-4x faster); built by pip install where a C compiler exists
    from ._speedups import round_floats
except ImportError:  # pragma: no cover
    round_floats = round_floats_py

_CONTAINERS = (dict, list, tuple)


def marshal_dumps(content: Any) -> bytes:
    """marshal bytes of validated content; subclasses of JSON types (OrderedDict, IntEnum) as plain types."""
    try:
        return marshal.dumps(content)
    except ValueError:
        return marshal.dumps(json_loads(json_dumps(content)))


class Codec:
    """Exact content: marshal bytes (fast, in-process) or compact JSON (portable, for shared stores)."""

    lossy = False

    def __init__(self, portable: bool = False) -> None:
        self.portable = portable

    def encode(self, content: Any) -> bytes:
        """Content → stored bytes."""
        if self.portable:
            return json_dumps(content)
        return marshal_dumps(content)

    def decode(self, data: bytes) -> Any:
        """Stored bytes → content."""
        if self.portable:
            return json_loads(data)
        return marshal.loads(data)

    def reencode(self, data: bytes, source: "Codec") -> bytes:
        """Bytes stored by `source` → this codec's bytes (the tier transition)."""
        if type(source) is Codec and type(self) is Codec and source.portable == self.portable:
            return data
        return self.encode(source.decode(data))


class PresetDictionary:
    """A zlib preset dictionary shared by all records of a store, made from the first content it sees.

    Small records compress poorly alone; with a dictionary of typical content (key names, common
    strings) they shrink several-fold. `load`/`save` persist it next to the records (LTM: the
    SQLite meta table), so the file stays readable by a later process.
    """

    SIZE = 4096
    WBITS = -12  # raw deflate, 4 KiB window: a cheap compressor per record

    def __init__(self, load=None, save=None) -> None:
        self._load, self._save = load, save
        self.data: bytes | None = None

    def get(self, sample: bytes | None = None) -> bytes:
        """The dictionary, loaded or (when none exists yet) made from `sample`."""
        if self.data is None and self._load is not None:
            self.data = self._load()
        if self.data is None:
            self.data = (sample or b"")[-self.SIZE:]
            if self._save is not None:
                self._save(self.data)
        return self.data


class RoundingCodec(Codec):
    """Floats rounded to `precision` significant digits, as JSON; optionally deflated with a preset dictionary."""

    lossy = True

    def __init__(self, precision: int, compress_level: int | None = None,
                 dictionary: PresetDictionary | None = None) -> None:
        super().__init__(portable=True)
        self.precision = precision
        self.compress_level = compress_level
        self.dictionary = dictionary if dictionary is not None else PresetDictionary()

    def encode(self, content: Any) -> bytes:
        data = json_dumps(round_floats(content, self.precision))
        if self.compress_level is None:
            return data
        zdict = self.dictionary.get(data)
        comp = zlib.compressobj(self.compress_level, zlib.DEFLATED, PresetDictionary.WBITS, 5, zdict=zdict) \
            if zdict else zlib.compressobj(self.compress_level, zlib.DEFLATED, PresetDictionary.WBITS, 5)
        return comp.compress(data) + comp.flush()

    def decode(self, data: bytes) -> Any:
        if self.compress_level is not None:
            zdict = self.dictionary.get()
            dec = zlib.decompressobj(PresetDictionary.WBITS, zdict=zdict) if zdict else \
                zlib.decompressobj(PresetDictionary.WBITS)
            data = dec.decompress(data) + dec.flush()
        return json_loads(data)
