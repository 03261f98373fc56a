"""Reading and finding documented result files (``<dir>/<category>/<benchmark>_<timestamp>.json``)."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from . import naming

REQUIRED_KEYS = ("benchmark", "category", "results")
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


def write_new_document(root: os.PathLike, category: Any, benchmark: Any, stamp: Any,
                       document: Dict[str, Any]) -> str:
    """Write `document` as JSON to a new file ``<root>/<category>/<benchmark>_<stamp>.json`` (``_2``,
    ``_3``... appended when taken) and return its path. Each name passes through :func:`safe_name`; the
    file is created exclusively, never through a symbolic link; a folder outside `root` is a ResultsError."""
    folder = confined_path(root, safe_name(category))
    folder.mkdir(parents=True, exist_ok=True)
    confined_path(root, safe_name(category))  # still inside once it exists
    stem = f"{safe_name(benchmark)}_{safe_name(stamp)}"
    text = json.dumps(document, indent=2, default=str) + "\n"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    for counter in range(1, 10_000):
        target = folder / (f"{stem}.json" if counter == 1 else f"{stem}_{counter}.json")
        try:
            fd = os.open(target, flags, 0o644)
        except FileExistsError:
            continue
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        return str(target)
    raise ResultsError(f"no free file name for {stem} in {folder}")


def read_document(path: os.PathLike) -> Dict[str, Any]:
    """Load one documented result file; ResultsError when unreadable or not a benchmark result."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ResultsError(f"result file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsError(f"unreadable result file {path}: {exc}") from None
    if not isinstance(data, dict) or any(k not in data for k in REQUIRED_KEYS) \
            or not isinstance(data.get("results"), dict):
        raise ResultsError(f"{path} is not a benchmark result (needs {', '.join(REQUIRED_KEYS)})")
    data.setdefault("metadata", {})
    data.setdefault("timestamp", "")
    return data


def warn(message: str) -> None:
    """Print a one-line warning on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def find_documents(root: os.PathLike, category: Optional[str] = None,
                   benchmark_name: Optional[str] = None) -> List[Tuple[str, Dict[str, Any]]]:
    """(path, document) for every result file under `root` (recursively), oldest first; corrupt files
    are skipped with a warning naming them; other JSON (e.g. benchmark_config.json) is ignored."""
    root = Path(root)
    found: List[Tuple[str, Dict[str, Any]]] = []
    if not root.is_dir():
        return found
    for path in sorted(root.rglob("*.json")):
        if path.name == "benchmark_config.json":
            continue
        try:
            doc = read_document(path)
        except ResultsError as exc:
            if "not a benchmark result" in str(exc):
                if _looks_like_result(path):
                    warn(f"skipping {path}: not a benchmark result file")
                continue
            warn(f"skipping corrupt result file {path}: {str(exc).split(': ', 1)[-1]}")
            continue
        if category and doc.get("category") != category:
            continue
        if benchmark_name and doc.get("benchmark") != benchmark_name:
            continue
        found.append((str(path), doc))
    found.sort(key=lambda item: (str(item[1].get("timestamp", "")), item[0]))
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
