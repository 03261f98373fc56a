"""Attribute queries: equality on top-level or dotted content keys, with a cheap byte prefilter."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InvalidMemoryError, InvalidValueError

_MISSING = object()


@dataclass
class AttributeQuery:
    """Parsed attributes: (key, value) pairs and the byte strings every match must contain."""

    pairs: list[tuple[str, Any]]
    needles: list[bytes]

    def might_match(self, stored: bytes, codec: Any) -> bool:
        """False only when the stored bytes cannot match (a required string is absent)."""
        if getattr(codec, "compress_level", None) is not None:
            return True
        return all(n in stored for n in self.needles)


def parse_attributes(attributes: Any) -> AttributeQuery:
    """Validate an attributes dict into a query."""
    if not isinstance(attributes, dict):
        raise InvalidMemoryError(f"attributes must be a dict; got {type(attributes).__name__}")
    if not attributes:
        raise InvalidValueError("attributes must name at least one key")
    pairs, needles = [], []
    for key, value in attributes.items():
        if type(key) is not str or not key:
            raise InvalidMemoryError(f"attribute keys must be non-empty strings; got {key!r}")
        pairs.append((key, value))
        if type(value) is str and value and value.isprintable() and '"' not in value and "\\" not in value:
            needles.append(value.encode("utf-8"))
    return AttributeQuery(pairs, needles)


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
        elif isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
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
