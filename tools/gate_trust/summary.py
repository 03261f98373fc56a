"""What a mode's trials add up to: ModeResult counts exit-2 verdicts, errors, detections and unrelated
flags per mode (and planted change) and holds them to the issue's target; from it come the progress
line printed after each trial, the table printed at the end, and the JSON summary rewritten after
every trial."""

from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from .planted import PlantedChange
from .shell import EXIT_REGRESSION
from .verdicts import Trial


@dataclass
class ModeResult:
    """All trials of one mode (and planted change), with the target they are held to."""

    mode: str
    change: Optional[PlantedChange]
    trials: List[Trial] = field(default_factory=list)
    commands: List[str] = field(default_factory=list)
    commits: Dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """``planted store_single`` or the mode's name."""
        return f"{self.mode} {self.change.name}" if self.change else self.mode

    def summary(self) -> Dict[str, Any]:
        """Trials, exit-2 count, errors, detections, unrelated flags, median seconds, and the target."""
        n = len(self.trials)
        seconds = [t.seconds for t in self.trials]
        out: Dict[str, Any] = {
            "mode": self.mode, "change": self.change.name if self.change else None, "trials": n,
            "exit_2": sum(t.exit_code == EXIT_REGRESSION for t in self.trials),
            "errors": sum(t.error is not None for t in self.trials),
            "detected": sum(t.detected for t in self.trials) if self.change else None,
            "unrelated_flag_trials": sum(bool(t.of(False)) for t in self.trials),
            "unrelated_regressions": sum(len(t.of(False, "regression")) for t in self.trials),
            "unrelated_improvements": sum(len(t.of(False, "improvement")) for t in self.trials),
            # timing changes between runs not measured side by side: reported, never exit 2
            "unconfirmed_timings": sum(int(t.counts.get("unconfirmed", 0)) for t in self.trials),
            "median_seconds": round(statistics.median(seconds), 1) if seconds else None,
            "related_flagged_per_benchmark": self.per_benchmark(True),
            "unrelated_flagged_per_benchmark": self.per_benchmark(False),
        }
        out["target"], out["target_met"] = self.target(out)
        return out

    def per_benchmark(self, related: bool) -> Dict[str, int]:
        """{asv benchmark: trials in which it had a flagged measurement}, related or unrelated ones."""
        counts: Dict[str, int] = {}
        for trial in self.trials:
            for name in sorted({_asv_label(m["asv"]) for m in trial.of(related)}):
                counts[name] = counts.get(name, 0) + 1
        return counts

    def target(self, s: Mapping[str, Any]) -> Tuple[str, Optional[bool]]:
        """The issue's target for this mode and whether these trials meet it (None without trials)."""
        n = s["trials"]
        if not n:
            return "", None
        if self.change is None:
            return "0 exit-2 verdicts", s["exit_2"] == 0 and s["errors"] == 0
        need = n if self.change.expect_all else math.ceil(0.9 * n)
        text = f"detected >= {need}/{n}, nothing unrelated flagged"
        return text, s["detected"] >= need and s["unrelated_flag_trials"] == 0 and s["errors"] == 0


def _asv_label(asv: Any) -> str:
    """An asv name, or candidates joined with '|' when the name was not resolved."""
    return asv if isinstance(asv, str) else "|".join(asv) or "?"


def progress_line(result: ModeResult, trial: Trial, total: int) -> str:
    """``[planted store_single] trial 3/10: exit 2, flagged 6 (related 6, unrelated 0), 412.3 s``."""
    line = (f"[{result.label}] trial {trial.index}/{total}: exit {trial.exit_code}, flagged {len(trial.flagged)} "
            f"(related {len(trial.of(True))}, unrelated {len(trial.of(False))})")
    if trial.counts.get("unconfirmed"):
        line += f", unconfirmed {trial.counts['unconfirmed']}"
    if result.change:
        line += ", detected" if trial.detected else ", NOT detected"
    line += f", {trial.seconds:.1f} s"
    return line + (f"  ERROR: {trial.error}" if trial.error else "")


def table(results: Sequence[ModeResult]) -> str:
    """The end-of-run table: one row per mode (and change)."""
    headers = ["mode", "change", "trials", "exit-2", "errors", "detected", "unrelated", "median s", "target", "met"]
    rows = []
    for r in results:
        s = r.summary()
        rows.append([s["mode"], s["change"] or "-", s["trials"], s["exit_2"], s["errors"],
                     "-" if s["detected"] is None else s["detected"], s["unrelated_flag_trials"],
                     "-" if s["median_seconds"] is None else s["median_seconds"], s["target"],
                     {True: "yes", False: "NO", None: "-"}[s["target_met"]]])
    cells = [[str(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_summary(path: Path, settings: Mapping[str, Any], results: Sequence[ModeResult]) -> None:
    """Write the JSON summary (settings, per mode: summary, commits, commands, trials)."""
    doc = {"created": _dt.datetime.now().isoformat(timespec="seconds"), "settings": dict(settings),
           "modes": [{**r.summary(), "commits": r.commits, "commands": r.commands,
                      "trial_details": [t.to_json() for t in r.trials]} for r in results]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
    tmp.replace(path)
