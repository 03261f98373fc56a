"""The settings one invocation shares across its modes (the shell, the repository, the work and run
directories, trials per mode, the gate's options) and its scratch clone, made on first use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional

from .clone import Clone, make_clone
from .planted import PlantedChange
from .shell import Shell


@dataclass
class Context:
    """Settings shared by every mode of one invocation."""

    shell: Shell
    repo: Path
    work_dir: Path
    run_dir: Path
    trials: int
    categories: List[str]
    profile: str
    threshold: float
    bench: Optional[List[str]] = None
    no_confirm: bool = False
    related_only: bool = False
    clone: Optional[Clone] = None
    on_trial: Callable[[], None] = lambda: None

    def continuous_options(self, change: Optional[PlantedChange]) -> List[str]:
        """The options of ``cli continuous`` shared by every trial."""
        opts: List[str] = []
        for category in self.categories:
            opts += ["--category", category]
        benches = [change.bench_regex()] if (self.related_only and change) else list(self.bench or [])
        for bench in benches:
            opts += ["--bench", bench]
        opts += ["--threshold", repr(self.threshold), "--profile", self.profile]
        return opts + (["--no-confirm"] if self.no_confirm else [])

    def ensure_clone(self) -> Clone:
        """The scratch clone of this invocation (made on first use)."""
        if self.clone is None:
            self.clone = make_clone(self.shell, self.repo, self.work_dir / "clone")
        return self.clone
