"""Attribute queries: equality on top-level or dotted content keys, with a cheap byte prefilter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidMemoryError, InvalidValueError
from ..validation import has_surrogate, show

_MISSING = object()
_MAX_DEPTH = 64
_MAX_INDEX_DIGITS = 18  # a list index in a dotted path: ASCII digits that int() reads without a length limit


@dataclass
class AttributeQuery:
    """Parsed attributes: (key, value) pairs and the byte strings every match must contain."""

    pairs: list[tuple[str, Any]]
    needles: list[bytes]

    def might_match(self, stored: bytes, verbatim_strings: bool) -> bool:
        """False only when the stored bytes cannot match: they hold strings verbatim (the codec's
        `verbatim_strings`) and a required one is absent."""
        return not verbatim_strings or all(n in stored for n in self.needles)


def parse_attributes(attributes: Any) -> AttributeQuery:
    """Validate an attributes dict into a query."""
    if not isinstance(attributes, dict):
        raise InvalidMemoryError(f"attributes must be a dict; got {type(attributes).__name__}")
    if not attributes:
        raise InvalidValueError("attributes must name at least one key")
    pairs, needles = [], []
    for key, value in attributes.items():
        if type(key) is not str or not key:
            raise InvalidMemoryError(f"attribute keys must be non-empty strings; got {show(key)}")
        if has_surrogate(key):
            raise InvalidValueError(f"attribute key {show(key)} holds a lone surrogate, which UTF-8 cannot encode")
        _check_value(value, key, 0)
        pairs.append((key, value))
        if type(value) is str and value and value.isprintable() and '"' not in value and "\\" not in value:
            needles.append(value.encode("utf-8"))
    return AttributeQuery(pairs, needles)


def _check_value(value: Any, where: str, depth: int) -> None:
    """A query value is JSON-like (what content can equal) with no lone surrogate in any str."""
    t = type(value)
    if value is None or t in (bool, int, float):
        return
    if issubclass(t, str):
        if has_surrogate(str.__str__(value)):
            raise InvalidValueError(f"attribute value at {where!r} holds a lone surrogate, which UTF-8 cannot encode")
        return
    if depth >= _MAX_DEPTH:
        raise InvalidValueError(f"attribute value at {where!r} nests deeper than {_MAX_DEPTH} levels (or is circular)")
    if issubclass(t, dict):
        for k, v in dict.items(value):
            if issubclass(type(k), str) and has_surrogate(str.__str__(k)):
                raise InvalidValueError(f"attribute value at {where!r} has a key with a lone surrogate")
            _check_value(v, f"{where}.{show(k, 40)}", depth + 1)
    elif issubclass(t, (list, tuple)):
        for i, v in enumerate(list.copy(value) if issubclass(t, list) else tuple.__getitem__(value, slice(None))):
            _check_value(v, f"{where}.{i}", depth + 1)
    elif not issubclass(t, (int, float)):
        raise InvalidMemoryError(f"attribute value at {where!r} has type {t.__name__}, which no stored content holds "
                                 "(allowed: dict, list, str, int, float, bool, None)")


def lookup(content: Any, key: str) -> Any:
    """The value at a top-level key, else at a dotted path (list items by index); _MISSING if none."""
    if type(content) is dict and key in content:
        return content[key]
    node = content
    for part in key.split("."):
        if isinstance(node, dict):
            if part not in node:
                return _MISSING
            node = node[part]
        elif (isinstance(node, (list, tuple)) and part.isascii() and part.isdigit()
              and len(part) <= _MAX_INDEX_DIGITS and int(part) < len(node)):  # not '²' or '١', which int() reads oddly
            node = node[int(part)]
        else:
            return _MISSING
    return node


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: true is not 1, 1 equals 1.0."""
    if (type(a) is bool) != (type(b) is bool):
        return False
    return a == b


def matches_attributes(content: Any, query: AttributeQuery) -> bool:
    """Whether content matches every pair of the query."""
    for key, value in query.pairs:
        found = lookup(content, key)
        if found is _MISSING or not json_equal(found, value):
            return False
    return True
