"""Reading and finding documented result files (``<dir>/<category>/<benchmark>_<timestamp>.json``)."""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from . import naming

REQUIRED_KEYS = ("benchmark", "category", "results")
#: Result files larger than this are skipped unread (a whole default-profile run is a few MB).
MAX_RESULT_BYTES = 64 * 1024 * 1024
#: Deepest nesting of objects and lists accepted in a result file (the documented format needs ~10).
MAX_DEPTH = 64
#: Longest file-name component written for a benchmark, category or timestamp (file systems stop at 255 bytes).
MAX_NAME_LENGTH = 100
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


class ResultsError(ValueError):
    """A result file or directory cannot be used (missing, unreadable, not a benchmark result)."""


# ---- writing: every path inside the output directory ---------------------------------------------


def safe_name(text: Any) -> str:
    """`text` as one harmless file-name component: every character but ASCII letters, digits, ``.``,
    ``_`` and ``-`` (path separators, NUL, ...) and leading dots (``..``) become ``_``; at most
    MAX_NAME_LENGTH characters; never empty. Names in a document stay as they are; only paths use this."""
    name = _UNSAFE.sub("_", str(text))
    name = re.sub(r"^\.+", lambda dots: "_" * len(dots.group()), name)[:MAX_NAME_LENGTH]
    return name or "_"


def confined_path(root: os.PathLike, *parts: str) -> Path:
    """``root/parts...``; ResultsError when it resolves outside `root` (an absolute part, ``..``, a
    symbolic link leading elsewhere), so nothing is ever written outside the directory a user chose."""
    base = Path(root).resolve()
    target = Path(root).joinpath(*parts)
    if not target.resolve().is_relative_to(base):
        raise ResultsError(f"{target} is outside the output directory {root}")
    return target


def result_timestamp(epoch_ms: Optional[float] = None) -> str:
    """The documented timestamp (``YYYYmmdd_HHMMSS``, local time) of `epoch_ms` milliseconds since the
    epoch (asv's ``started_at``), else of now: the one format of every result file's name and field."""
    when = _dt.datetime.fromtimestamp(epoch_ms / 1000.0) if epoch_ms else _dt.datetime.now()
    return when.strftime("%Y%m%d_%H%M%S")


def new_document(benchmark: str, category: str, results: Dict[str, Any],
                 metadata: Optional[Dict[str, Any]] = None, stamp: Optional[str] = None,
                 error: Optional[str] = None) -> Dict[str, Any]:
    """A result document in the documented format (``error`` only when given), stamped now unless
    `stamp` is given: what :func:`write_new_document` writes for a result made outside asv."""
    document = {"benchmark": benchmark, "category": category, "timestamp": stamp or result_timestamp(),
                "results": results, "metadata": dict(metadata or {})}
    if error is not None:
        document["error"] = error
    return document


def write_new_document(root: os.PathLike, document: Dict[str, Any]) -> str:
    """Write `document` as JSON to a new file ``<root>/<category>/<benchmark>_<timestamp>.json`` (``_2``,
    ``_3``... appended when taken) and return its path: the one writer of result files. Each name passes
    through :func:`safe_name`; the file is created exclusively, never through a symbolic link.
    ResultsError for a folder outside `root` and for a document :func:`find_documents` would skip
    (:func:`shape_problem`: e.g. an empty name)."""
    problem = shape_problem(document) or (f"nested deeper than {MAX_DEPTH} levels"
                                          if nesting_exceeds(document, MAX_DEPTH) else None)
    if problem:  # never write what find_documents would skip
        raise ResultsError(f"not a valid benchmark result ({problem})")
    folder = confined_path(root, safe_name(document["category"]))
    folder.mkdir(parents=True, exist_ok=True)
    confined_path(root, safe_name(document["category"]))  # still inside once it exists
    stem = f"{safe_name(document['benchmark'])}_{safe_name(document.get('timestamp', ''))}"
    text = json.dumps(document, indent=2, default=str) + "\n"
    for counter in range(1, 10_000):
        target = folder / (f"{stem}.json" if counter == 1 else f"{stem}_{counter}.json")
        if _create_exclusively(target, text):
            return str(target)
    raise ResultsError(f"no free file name for {stem} in {folder}")


def _create_exclusively(target: Path, text: str) -> bool:
    """Write `text` to `target` when no file (nor link) has that name yet; False when one has."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)  # no O_NOFOLLOW on Windows
    try:
        fd = os.open(target, flags, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return True


# ---- reading: one hostile file costs only itself -------------------------------------------------


class NotAResult(ResultsError):
    """JSON that is no benchmark result at all (it lacks benchmark, category or results)."""


def read_document(path: os.PathLike) -> Dict[str, Any]:
    """Load one documented result file; ResultsError (naming the file) when it is not a regular file,
    is larger than MAX_RESULT_BYTES, unreadable, nested deeper than MAX_DEPTH or not shaped like a
    benchmark result (:func:`shape_problem`); NotAResult for other JSON."""
    path = Path(path)
    text = _regular_file_bytes(path)
    try:
        data = json.loads(text)
    except RecursionError:
        raise ResultsError(f"{path}: nested too deeply to read") from None
    except ValueError as exc:  # bad JSON, bad UTF-8, an integer too long to convert
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED_KEYS):
        raise NotAResult(f"{path}: not a benchmark result (needs {', '.join(REQUIRED_KEYS)})")
    if nesting_exceeds(data, MAX_DEPTH):
        raise ResultsError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    problem = shape_problem(data)
    if problem:
        raise ResultsError(f"{path}: not a valid benchmark result ({problem})")
    if data.get("metadata") is None:
        data["metadata"] = {}
    data.setdefault("timestamp", "")
    return data


def _regular_file_bytes(path: Path) -> bytes:
    """The bytes of `path` when it is a regular file of at most MAX_RESULT_BYTES. Opened non-blocking
    and checked before any read, so a FIFO, device or directory named ``*.json`` never blocks or streams."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise ResultsError(f"result file not found: {path}") from None
    except OSError as exc:
        raise ResultsError(f"{path}: unreadable ({exc.strerror or exc})") from None
    too_big = ResultsError(f"{path}: larger than {MAX_RESULT_BYTES // (1024 * 1024)} MiB")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ResultsError(f"{path}: not a regular file")
        if info.st_size > MAX_RESULT_BYTES:
            raise too_big
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(MAX_RESULT_BYTES + 1)
    except OSError as exc:
        raise ResultsError(f"{path}: unreadable ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_RESULT_BYTES:  # it grew while we looked
        raise too_big
    return data


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True when `value` (parsed JSON) nests dicts/lists deeper than `limit`; iterative, so it never
    recurses itself (the readers that walk a document do)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else ()
        for child in children:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


# Metadata maps the readers use, with the type their values must have (None: any).
_METADATA_MAPS = {"stats": dict, "asv_params": None, "fixed_params": None, "param_keys": str,
                  "metric_kinds": str, "derived_metrics": str, "metric_directions": None,
                  "metric_sources": None, "units": str}


def shape_problem(data: Dict[str, Any]) -> Optional[str]:
    """Why `data` cannot be used as a result document (a field of a type the readers do not expect:
    names that are not strings, results that are not an object, ...), or None when it can."""
    for key in ("benchmark", "category"):
        if not isinstance(data.get(key), str) or not data[key]:
            return f"{key} must be a non-empty string"
        if not data[key].isprintable():  # control characters would reach terminals and pages
            return f"{key} holds control characters"
    if not isinstance(data.get("results"), dict):
        return "results must be an object"
    if not isinstance(data.get("timestamp", ""), str) or not data.get("timestamp", "").isprintable():
        return "timestamp must be a string of printable characters"
    if data.get("error") is not None and not isinstance(data["error"], str):
        return "error must be a string"
    meta = data.get("metadata")
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return "metadata must be an object"
    for key, value_type in _METADATA_MAPS.items():
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, dict) or (value_type and not all(isinstance(v, (value_type, type(None)))
                                                                  for v in value.values())):
            return f"metadata.{key} must be an object" + (f" of {value_type.__name__}s" if value_type else "")
    return _stats_problem(meta.get("stats") or {}) or _unstable_problem(meta.get("unstable"))


def _stats_problem(stats: Dict[str, Any]) -> Optional[str]:
    """Why ``metadata.stats`` ({path: {metric: {samples: [...], ...}}}) is unusable, or None."""
    for path, cells in stats.items():
        if not isinstance(cells, dict) or not all(isinstance(cell, dict) for cell in cells.values()):
            return f"metadata.stats[{path!r}] must map metrics to objects"
        for metric, cell in cells.items():
            if cell.get("samples") is not None and not isinstance(cell["samples"], list):
                return f"metadata.stats[{path!r}][{metric!r}].samples must be a list"
    return None


def _unstable_problem(unstable: Any) -> Optional[str]:
    """Why ``metadata.unstable`` (a list of {asv_name, params, metric, spread, n}) is unusable, or None."""
    if unstable is None:
        return None
    if not isinstance(unstable, list) or not all(isinstance(entry, dict) for entry in unstable):
        return "metadata.unstable must be a list of objects"
    for entry in unstable:
        for key in ("spread", "n"):
            if key in entry and not naming.is_finite(entry[key]):
                return f"metadata.unstable entries need a finite number as {key}"
    return None


def warn(message: str) -> None:
    """Print a one-line warning on stderr; unprintable characters of `message` (a line break or a
    terminal escape in a file name) are shown escaped, as in Python's repr."""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in message)
    print(f"warning: {shown}", file=sys.stderr)


def find_documents(root: os.PathLike, category: Optional[str] = None,
                   benchmark_name: Optional[str] = None) -> List[Tuple[str, Dict[str, Any]]]:
    """(path, document) for every result file under `root` (recursively), oldest first. A file that
    cannot be used (corrupt, too deep or too big, malformed, a FIFO or device) is skipped with a
    one-line warning naming it; other JSON (e.g. benchmark_config.json) is ignored."""
    root = Path(root)
    found: List[Tuple[str, Dict[str, Any]]] = []
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*.json")):
        if path.name == "benchmark_config.json":
            continue
        try:
            doc = read_document(path)
        except NotAResult:
            if _looks_like_result(path):
                warn(f"skipping {path}: not a benchmark result file")
            continue
        except ResultsError as exc:
            warn(f"skipping {exc}")
            continue
        if category and doc["category"] != category:
            continue
        if benchmark_name and doc["benchmark"] != benchmark_name:
            continue
        found.append((str(path), doc))
    found.sort(key=lambda item: (item[1]["timestamp"], item[0]))
    return found


def _looks_like_result(path: Path) -> bool:
    # Files named like <benchmark>_<YYYYmmdd>_<HHMMSS>.json are expected to be results.
    stem = path.stem.split("_")
    return len(stem) >= 3 and stem[-2].isdigit() and len(stem[-2]) == 8


def metric_rows(document: Dict[str, Any]) -> List[Tuple[str, str, float]]:
    """(parameter path, metric, value) for every numeric leaf of a document's results."""
    rows = []
    for parts, value in naming.flatten(document.get("results", {})).items():
        rows.append((naming.join_path(parts[:-1]), parts[-1], value))
    return rows


def metric_stats(document: Dict[str, Any], path: str, metric: str) -> Dict[str, Any]:
    """asv statistics recorded for (path, metric) in a document, or {}."""
    stats = (document.get("metadata") or {}).get("stats") or {}
    cell = stats.get(path, {}) if isinstance(stats, dict) else {}
    value = cell.get(metric, {}) if isinstance(cell, dict) else {}
    return value if isinstance(value, dict) else {}


def param_prefixes(document: Dict[str, Any], param: str) -> List[str]:
    """Path-key prefixes that may encode parameter `param` in `document` (``batch_size`` → ``batch``)."""
    keys = (document.get("metadata") or {}).get("param_keys") or {}
    candidates = []
    if isinstance(keys, dict) and param in keys:
        candidates.append(str(keys[param]))
    candidates += [param, naming.param_key(param)]
    if param.endswith("s"):  # "batch_sizes" (a config field name) → "batch_size" → "batch"
        candidates += [param[:-1], naming.param_key(param[:-1])]
    return naming.dedupe(candidates)


def canonical_path(document: Dict[str, Any], path: str) -> str:
    """A parameter path made comparable across runs: its keys plus those of ``metadata.fixed_params``
    (parameters with one value, not nested), sorted."""
    meta = document.get("metadata") or {}
    fixed = meta.get("fixed_params") or {}
    keys = meta.get("param_keys") or {}
    parts = [p for p in path.split(naming.PATH_SEP) if p] if path else []
    if isinstance(fixed, dict):
        parts += [naming.path_key(name, value, keys if isinstance(keys, dict) else None)
                  for name, value in fixed.items()]
    return naming.join_path(sorted(set(parts)))


def sample_quartiles(stats: Dict[str, Any]) -> Optional[Tuple[float, float, int]]:
    """(25th, 75th percentile, sample count) of a metric's recorded samples, else asv's quartiles
    (count from ``repeat``), else None: an interval of measured values, never negative for times."""
    samples = [x for x in stats.get("samples") or () if naming.is_finite(x)]
    if len(samples) >= 2:
        ordered = sorted(samples)
        return _quantile(ordered, 0.25), _quantile(ordered, 0.75), len(ordered)
    q25, q75 = stats.get("q25"), stats.get("q75")
    if naming.is_finite(q25) and naming.is_finite(q75):
        repeat = stats.get("repeat")
        return float(q25), float(q75), int(repeat) if naming.is_finite(repeat) else 0
    return None


def _quantile(ordered: List[float], q: float) -> float:
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def unstable_timings(documents: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The ``metadata.unstable`` entries of `documents` (timings whose samples spread by more than
    ``verdict.UNSTABLE_SPREAD`` of their median), each with its "category/benchmark", worst first."""
    found: List[Dict[str, Any]] = []
    for doc in documents:
        entries = (doc.get("metadata") or {}).get("unstable") or []
        found += [dict(e, benchmark=f"{doc.get('category')}/{doc.get('benchmark')}") for e in entries
                  if isinstance(e, dict) and naming.is_finite(e.get("spread"))]
    return sorted(found, key=lambda e: -float(e["spread"]))


def stability_lines(unstable: List[Dict[str, Any]], most: int = 10) -> List[str]:
    """The stability report: a heading line and the `most` worst unstable timings."""
    if not unstable:
        return []
    from .verdict import UNSTABLE_SPREAD

    lines = [f"{len(unstable)} timing(s) unstable on this machine (samples spread over {UNSTABLE_SPREAD:.0%} "
             "of their median; fix or quarantine them):"]
    lines += [f"  UNSTABLE {e.get('asv_name')} {e.get('params') or ''}: spread {float(e['spread']):.0%} "
              f"over {e.get('n', '?')} samples" for e in unstable[:most]]
    if len(unstable) > most:
        lines.append(f"  (+{len(unstable) - most} more: metadata.unstable of each result file)")
    return lines
