"""Content codecs: how each tier stores a memory's content, and how lossy it is.

STM keeps content exactly (marshal in-process, JSON on shared stores). IM rounds floats to a
number of significant digits; LTM rounds harder and zlib-compresses. Sizes are the stored bytes.
"""

from __future__ import annotations

import json
import marshal
import zlib
from typing import Any, Optional, Protocol

from ..errors import CorruptDataError

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


# what decoding damaged bytes raises: JSON/UTF-8/marshal errors (ValueError), zlib.error, marshal's
# EOFError/TypeError, and deeply nested garbage in the stdlib parser
DECODE_ERRORS = (ValueError, TypeError, EOFError, RecursionError, zlib.error)


def undecodable(exc: BaseException) -> CorruptDataError:
    """The CorruptDataError for bytes a codec could not decode (one line: what failed)."""
    return CorruptDataError(f"content cannot be decoded ({type(exc).__name__}: {exc})")


def not_content(content: Any) -> CorruptDataError:
    """The error for decoded content that is not an object (every stored state is one)."""
    return CorruptDataError(f"content decodes to {type(content).__name__}, not an object")


class Codec:
    """Exact content: marshal bytes (fast, in-process) or compact JSON (portable, for shared stores)."""

    lossy = False
    verbatim_strings = True  # stored bytes hold the content's strings as they are (a byte search can rule a match out)

    def __init__(self, portable: bool = False) -> None:
        self.portable = portable

    def encode(self, content: Any) -> bytes:
        """Content → stored bytes."""
        if self.portable:
            return json_dumps(content)
        return marshal_dumps(content)

    def decode(self, data: bytes) -> Any:
        """Stored bytes → content; CorruptDataError (no memory id: the tier adds it) when they are damaged."""
        try:
            if not self.portable:  # in-process bytes (the embedded store): only this process writes them
                return marshal.loads(data)
            content = json_loads(data)
        except DECODE_ERRORS as exc:
            raise undecodable(exc) from exc
        if type(content) is dict:
            return content
        raise not_content(content)

    def reencode(self, data: bytes, source: "Codec") -> bytes:
        """Bytes stored by `source` → this codec's bytes (the tier transition)."""
        if type(source) is Codec and type(self) is Codec and source.portable == self.portable:
            return data
        return self.encode(source.decode(data))


class DictionarySource(Protocol):
    """Where a PresetDictionary keeps its dictionaries (LTM: the SQLite file's write-once table)."""

    def current_dictionary(self) -> Optional[tuple[int, bytes]]:
        """The newest (number, dictionary), or None when none was agreed yet."""

    def dictionary(self, number: int) -> Optional[bytes]:
        """Dictionary `number`, or None when the source has none by that number."""

    def agree_dictionary(self, proposal: bytes) -> tuple[int, bytes]:
        """Atomically store `proposal` unless a dictionary exists; returns the one everyone uses."""

    def legacy_dictionary(self) -> Optional[bytes]:
        """The dictionary of records written before records named theirs (headerless), or None."""


class _LocalSource:
    """A DictionarySource in process memory (a codec used without a persistent store)."""

    def __init__(self) -> None:
        self._data: Optional[bytes] = None

    def current_dictionary(self) -> Optional[tuple[int, bytes]]:
        return None if self._data is None else (1, self._data)

    def dictionary(self, number: int) -> Optional[bytes]:
        return self._data if number == 1 else None

    def agree_dictionary(self, proposal: bytes) -> tuple[int, bytes]:
        if self._data is None:
            self._data = proposal
        return 1, self._data

    def legacy_dictionary(self) -> Optional[bytes]:
        return None


class PresetDictionary:
    """Numbered zlib preset dictionaries of a store; the first is made from the first content compressed.

    Small records compress poorly alone; with a dictionary of typical content (key names, common
    strings) they shrink several-fold. The source agrees a dictionary atomically (the first proposal
    wins, every other process adopts it) and never changes a numbered one, and each record names
    the number it was compressed with, so no record is ever decoded with another dictionary.
    """

    SIZE = 4096
    WBITS = -12  # raw deflate, 4 KiB window: a cheap compressor per record
    MAX_NUMBER = 31  # numbers fit the record header's 5 bits

    def __init__(self, source: Optional[DictionarySource] = None) -> None:
        self._source: DictionarySource = source if source is not None else _LocalSource()
        self._current: Optional[tuple[int, bytes]] = None
        self._by_number: dict[int, bytes] = {}
        self._legacy: Optional[bytes] = None
        self._legacy_loaded = False

    def current(self, sample: bytes) -> tuple[int, bytes]:
        """(number, dictionary) to compress with: the agreed one, or (none yet) one proposed from `sample`."""
        current = self._current
        if current is None:
            current = self._source.current_dictionary() or self._source.agree_dictionary(sample[-self.SIZE:])
            if not 1 <= current[0] <= self.MAX_NUMBER:
                raise CorruptDataError(f"preset dictionary number {current[0]} is outside 1..{self.MAX_NUMBER}")
            self._current = current
            self._by_number[current[0]] = current[1]
        return current

    def by_number(self, number: int) -> bytes:
        """Dictionary `number` (cached; looked up once); CorruptDataError when the store has none by it."""
        data = self._by_number.get(number)
        if data is None:
            data = self._source.dictionary(number)
            if data is None:
                raise CorruptDataError(f"the record names preset dictionary {number}, which its store does not have")
            self._by_number[number] = data
        return data

    def legacy(self) -> Optional[bytes]:
        """The dictionary for headerless records of the previous format (None: they used none)."""
        if not self._legacy_loaded:
            self._legacy, self._legacy_loaded = self._source.legacy_dictionary(), True
        return self._legacy


class RoundingCodec(Codec):
    """Floats rounded to `precision` significant digits, as JSON; optionally deflated with a preset dictionary."""

    lossy = True

    def __init__(self, precision: int, compress_level: int | None = None,
                 dictionary: PresetDictionary | None = None) -> None:
        super().__init__(portable=True)
        self.precision = precision
        self.compress_level = compress_level
        self.verbatim_strings = compress_level is None
        self.dictionary = dictionary if dictionary is not None else PresetDictionary()
        self._by_header: dict[int, tuple[Optional[bytes], bool]] = {}  # first byte -> (dictionary, skip it)

    def encode(self, content: Any) -> bytes:
        data = json_dumps(round_floats(content, self.precision))
        if self.compress_level is None:
            return data
        number, zdict = self.dictionary.current(data)
        comp = zlib.compressobj(self.compress_level, zlib.DEFLATED, PresetDictionary.WBITS, 5, zdict=zdict) \
            if zdict else zlib.compressobj(self.compress_level, zlib.DEFLATED, PresetDictionary.WBITS, 5)
        return _HEADERS[number] + comp.compress(data) + comp.flush()

    def decode(self, data: bytes) -> Any:
        try:
            if self.compress_level is not None:
                entry = self._by_header.get(data[0] if data else -1)
                if entry is None:
                    entry = self._header_entry(data[0] if data else -1)
                dec = zlib.decompressobj(PresetDictionary.WBITS, zdict=entry[0]) if entry[0] else \
                    zlib.decompressobj(PresetDictionary.WBITS)
                data = dec.decompress(data[1:] if entry[1] else data)
                if not dec.eof:  # a complete stream: decompress returned all of it (no flush needed);
                    raise CorruptDataError("compressed content is truncated")  # bytes after its end are ignored
            content = json_loads(data)
        except DECODE_ERRORS as exc:
            raise undecodable(exc) from exc
        if type(content) is dict:
            return content
        raise not_content(content)

    def _header_entry(self, head: int) -> tuple[Optional[bytes], bool]:
        """(dictionary, header byte to skip?) for a record's first byte (-1: empty), cached once known;
        CorruptDataError for a header naming a dictionary the store lacks, or using the reserved bit."""
        if head < 0:
            raise CorruptDataError("compressed content is empty")
        if head & _TAG_MASK == _TAG:
            entry = (self.dictionary.by_number(head >> 3), True)
        elif head & _TAG_MASK == _TAG | 1:
            raise CorruptDataError(f"record header {head:#04x} uses a reserved bit")
        else:  # the previous format: raw deflate, no header
            entry = (self.dictionary.legacy(), False)
        self._by_header[head] = entry
        return entry


# The one header byte of a compressed record: 0b NNNNN 11 0 with N the preset dictionary's number. Bits 1-2
# of a raw deflate stream's first byte are its block type, where 11 is invalid, so a header never starts a
# headerless record of the previous format; bit 0 is reserved (0).
_TAG, _TAG_MASK = 0b110, 0b111
_HEADERS = tuple(bytes((_TAG | number << 3,)) for number in range(PresetDictionary.MAX_NUMBER + 1))
