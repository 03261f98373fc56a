"""Judging one trial: the gate's exit code and verdict JSON become a Trial whose flagged measurements
(regressions and improvements) each carry their asv benchmark, resolved from the result documents'
metadata (AsvNames), and whether the planted change is built to move them (related) or not
(unrelated); a trial detects the change when the gate exits 2 with at least one related regression."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from .planted import PlantedChange
from .shell import EXIT_OK, EXIT_REGRESSION

FLAG_STATUSES = ("regression", "improvement")


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    """A JSON object from `path`, or None when missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass
class AsvNames:
    """Which asv benchmark produced each metric, from the result documents' metadata."""

    by_metric: Dict[Tuple[str, str, str], str] = field(default_factory=dict)
    by_benchmark: Dict[Tuple[str, str], List[str]] = field(default_factory=dict)

    def add_document(self, doc: Mapping[str, Any]) -> None:
        """Record ``metadata.metric_sources`` and ``metadata.asv_benchmarks`` of one result document."""
        key = (str(doc.get("category", "")), str(doc.get("benchmark", "")))
        meta = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        names = meta.get("asv_benchmarks")
        if isinstance(names, list):
            known = self.by_benchmark.setdefault(key, [])
            known.extend(n for n in names if isinstance(n, str) and n not in known)
        sources = meta.get("metric_sources")
        if isinstance(sources, dict):
            for metric, name in sources.items():
                if isinstance(name, str):
                    self.by_metric[(*key, str(metric))] = name

    def candidates(self, measurement: Mapping[str, Any]) -> List[str]:
        """The asv benchmark(s) a verdict measurement may come from: one when known, else every
        asv benchmark of its documented benchmark."""
        for key in ("asv_benchmark", "asv_name"):
            if isinstance(measurement.get(key), str):
                return [measurement[key]]
        cat, bench = str(measurement.get("category", "")), str(measurement.get("benchmark", ""))
        name = self.by_metric.get((cat, bench, str(measurement.get("metric", ""))))
        return [name] if name else list(self.by_benchmark.get((cat, bench), []))


def load_asv_names(folders: Iterable[Path]) -> AsvNames:
    """AsvNames from every result document (``*.json`` with benchmark/category) under `folders`."""
    names = AsvNames()
    for folder in folders:
        if not Path(folder).is_dir():
            continue
        for path in sorted(Path(folder).rglob("*.json")):
            doc = read_json(path)
            if doc and "benchmark" in doc and "category" in doc:
                names.add_document(doc)
    return names


def is_related(change: Optional[PlantedChange], candidates: Sequence[str], path: str) -> bool:
    """Related when the change is built to move it; with several candidate asv benchmarks, only when
    all are (an unresolved name never counts as a detection)."""
    return change is not None and bool(candidates) and all(change.is_related(c, path) for c in candidates)


@dataclass
class Trial:
    """One trial: the gate's exit code and what it flagged, split into related and unrelated."""

    index: int
    exit_code: int
    seconds: float
    flagged: List[Dict[str, Any]] = field(default_factory=list)
    counts: Dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None
    verdict_path: Optional[str] = None
    log: Optional[str] = None
    notes: List[str] = field(default_factory=list)  # e.g. a `cli run` that exited 1 (a benchmark failed)
    gate_seconds: Optional[float] = None  # the gate's own wall_seconds, when its verdict has them
    confirm_seconds: Optional[float] = None  # of which its confirmation pass, when the verdict says
    screened: Optional[int] = None  # measurements the first pass put to the confirmation pass

    def of(self, related: bool, status: Optional[str] = None) -> List[Dict[str, Any]]:
        """Flagged measurements that are (un)related, optionally of one status."""
        return [m for m in self.flagged if m["related"] == related and (status is None or m["status"] == status)]

    @property
    def detected(self) -> bool:
        """Exit 2 with at least one related regression."""
        return self.exit_code == EXIT_REGRESSION and bool(self.of(True, "regression"))

    def to_json(self) -> Dict[str, Any]:
        """The trial as a JSON-ready dict."""
        return {"trial": self.index, "exit_code": self.exit_code, "seconds": round(self.seconds, 3),
                "detected": self.detected, "error": self.error, "counts": self.counts,
                "related_regressions": len(self.of(True, "regression")),
                "unrelated_regressions": len(self.of(False, "regression")),
                "unrelated_improvements": len(self.of(False, "improvement")),
                "gate_wall_seconds": self.gate_seconds, "gate_confirm_seconds": self.confirm_seconds,
                "screened": self.screened, "notes": self.notes,
                "flagged": self.flagged, "verdict": self.verdict_path, "log": self.log}


def flagged_measurements(verdict: Mapping[str, Any], change: Optional[PlantedChange],
                         names: AsvNames) -> List[Dict[str, Any]]:
    """Every regression or improvement of a verdict, with its asv benchmark(s) and whether it is related."""
    out = []
    for m in verdict.get("measurements") or verdict.get("regressions") or []:
        if not isinstance(m, dict) or m.get("status") not in FLAG_STATUSES:
            continue
        candidates = names.candidates(m)
        path = str(m.get("path") or "")
        out.append({"status": m.get("status"), "category": m.get("category"), "benchmark": m.get("benchmark"),
                    "path": path, "metric": m.get("metric"), "kind": m.get("kind"), "change": m.get("change"),
                    "p_value": m.get("p_value"), "confirmed": m.get("confirmed"),
                    "asv": candidates[0] if len(candidates) == 1 else candidates,
                    "related": is_related(change, candidates, path)})
    return out


def judge_trial(index: int, exit_code: int, seconds: float, verdict: Optional[Mapping[str, Any]],
                change: Optional[PlantedChange], names: AsvNames) -> Trial:
    """A Trial from the gate's exit code and verdict JSON (None: no verdict was written)."""
    trial = Trial(index, exit_code, seconds)
    if exit_code not in (EXIT_OK, EXIT_REGRESSION):
        trial.error = f"the gate exited {exit_code}"
    if verdict is None:
        trial.error = trial.error or "no verdict JSON was written"
        return trial
    trial.counts = dict(verdict.get("counts") or {})
    trial.flagged = flagged_measurements(verdict, change, names)
    if isinstance(verdict.get("wall_seconds"), (int, float)):
        trial.gate_seconds = float(verdict["wall_seconds"])
    if isinstance(verdict.get("confirm_seconds"), (int, float)):
        trial.confirm_seconds = float(verdict["confirm_seconds"])
    if verdict.get("confirmation"):
        trial.screened = sum(1 for m in verdict.get("measurements") or [] if isinstance(m, dict)
                             and m.get("confirmed") is not None)
    recorded = verdict.get("exit_code")
    if recorded in (EXIT_OK, EXIT_REGRESSION) and recorded != exit_code and trial.error is None:
        trial.error = f"exit code {exit_code} but the verdict says {recorded}"
    return trial
