"""Which samples of an interleaved ``asv run`` came from which round.

asv runs each round of a benchmark in a fresh process and appends that round's samples to the ones
before, so a result file holds one list and the process boundaries are lost. They matter: on a
shared machine a whole process can run 30 % slow for its life, and such a process moves the median
of a side as a real change would. asv saves a commit's result file after each of its rounds, so
:class:`RoundWatcher`, fed ``asv run``'s output, reads the files each time asv starts a commit's
round and tells the rounds apart by how each sample list grew.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

from . import asv_adapter

#: asv's line at the start of one commit's round of an interleaved run.
ROUND_START = re.compile(r"\bFor \S+ commit \S+.*\(round \d+/\d+\):")

SampleCounts = Dict[str, List[int]]  # {asv benchmark name: sample count per parameter combination}


def sample_counts(decoded: Dict[str, Dict[str, Any]]) -> SampleCounts:
    """How many samples each benchmark of one decoded asv result file
    (:func:`memory.benchmarking.asv_adapter.read_result_file`) holds, per parameter combination."""
    return {name: [len(s) if isinstance(s, list) else 0 for s in entry.get("samples") or ()]
            for name, entry in decoded.items()}


def split_sizes(history: List[SampleCounts], name: str) -> List[List[int]]:
    """Samples per round, per parameter combination, of benchmark `name` from cumulative counts
    taken after each round; [] for a combination whose list ever shrank (asv dropped its samples)."""
    columns = max((len(counts.get(name, ())) for counts in history), default=0)
    out: List[List[int]] = []
    for index in range(columns):
        totals = [counts[name][index] if index < len(counts.get(name, ())) else 0 for counts in history]
        steps = [b - a for a, b in zip([0] + totals, totals)]
        out.append([] if any(s < 0 for s in steps) else [s for s in steps if s > 0])
    return out


class RoundWatcher:
    """Reads a private results dir's asv result files at each round start, and at the end, so the
    samples of each round (each benchmark process) can be told apart afterwards."""

    def __init__(self, results_dir: Path):
        self.results_dir = results_dir
        self._history: Dict[str, List[SampleCounts]] = {}  # {commit hash: counts after each of its rounds}

    def on_line(self, line: str) -> None:
        """Hand every line of asv's output here; a round start takes a snapshot."""
        if ROUND_START.search(line):
            self.snapshot()

    def snapshot(self) -> None:
        """Record each result file's sample counts where they changed since the last snapshot."""
        for path in sorted(self.results_dir.glob("*/*.json")):
            if path.name == "machine.json":
                continue
            try:
                result = asv_adapter.read_result_file(path)
            except asv_adapter.AdapterError:  # being written: the next snapshot reads it
                continue
            counts = sample_counts(result["decoded"])
            history = self._history.setdefault(result["commit_hash"], [])
            if not history or history[-1] != counts:
                history.append(counts)

    def samples_per_round(self, commit: str) -> Dict[str, List[List[int]]]:
        """{asv benchmark name: [samples per round] per parameter combination} of `commit`, from the
        snapshots so far (take one after the run for its last round)."""
        history = self._history.get(commit, [])
        names = {name for counts in history for name in counts}
        return {name: split_sizes(history, name) for name in sorted(names)}
