"""The modes that drive the real gate: aa-sequential (``cli run`` N+1 times on the checkout, ``cli
compare`` of each run against the one before), aa-continuous and planted (``cli continuous HEAD~1
HEAD`` N times in the scratch clone, on an empty or a planted commit). Each trial is judged as it
finishes, checked against the commits prepared, printed, and recorded in its ModeResult."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Mapping, Optional, Tuple

from .clone import check_cli_import, prepare_aa, prepare_planted
from .context import Context
from .planted import PlantedChange
from .shell import EXIT_ERROR, EXIT_OK, HarnessError, cli_command, tail
from .summary import ModeResult, progress_line
from .verdicts import Trial, judge_trial, load_asv_names, read_json

ASV_CONFIG_ENV = "AGENTMEMORY_ASV_CONFIG"


def _record(ctx: Context, result: ModeResult, trial: Trial, log: Optional[Path]) -> None:
    """Add a finished trial, print its progress line, and let the caller rewrite the summary."""
    trial.log = str(log) if log else None
    result.trials.append(trial)
    if ctx.shell.dry_run:
        return
    print(progress_line(result, trial, ctx.trials), flush=True)
    if trial.error and log is not None:
        print(tail(log), flush=True)
    ctx.on_trial()


def _cli_run(ctx: Context, result: ModeResult, out: Path) -> Tuple[float, List[str]]:
    """One ``cli run`` (one per --category) into `out`; (seconds, notes on benchmarks that failed)."""
    seconds, notes = 0.0, []
    for category in ctx.categories or [None]:
        cmd = cli_command("run", *(["--category", category] if category else []), "--profile", ctx.profile,
                          "--output-dir", str(out))
        result.commands.append(ctx.shell.show(cmd, ctx.repo))
        log = out.parent / f"{out.name}{'_' + category if category else ''}.log"
        code, secs = ctx.shell.run(cmd, ctx.repo, log=log)
        seconds += secs
        if code not in (EXIT_OK, EXIT_ERROR) and not ctx.shell.dry_run:
            raise HarnessError(f"cli run exited {code}; see {log}")
        if code == EXIT_ERROR:
            notes.append(f"cli run into {out.name} exited 1 (a benchmark failed; see {log})")
    return seconds, notes


def run_aa_sequential(ctx: Context, result: ModeResult) -> None:
    """``cli run`` N+1 times on the checkout, ``cli compare --json`` of each run against the previous one."""
    folder = ctx.run_dir / "aa-sequential"
    runs = [folder / f"run_{i:02d}" for i in range(ctx.trials + 1)]
    _, previous_notes = _cli_run(ctx, result, runs[0])
    for i in range(1, len(runs)):
        run_seconds, notes = _cli_run(ctx, result, runs[i])
        verdict_path = folder / f"verdict_{i:02d}.json"
        cmd = cli_command("compare", "--current-dir", str(runs[i]), "--baseline-dir", str(runs[i - 1]),
                          "--threshold", repr(ctx.threshold), "--json", str(verdict_path))
        result.commands.append(ctx.shell.show(cmd, ctx.repo))
        log = folder / f"compare_{i:02d}.log"
        code, secs = ctx.shell.run(cmd, ctx.repo, log=log)
        trial = judge_trial(i, code, run_seconds + secs, None if ctx.shell.dry_run else read_json(verdict_path),
                            None, load_asv_names([runs[i], runs[i - 1]]))
        trial.verdict_path, trial.notes = str(verdict_path), previous_notes + notes
        previous_notes = notes
        _record(ctx, result, trial, log)


def run_continuous_trials(ctx: Context, result: ModeResult, change: Optional[PlantedChange]) -> None:
    """N runs of ``cli continuous HEAD~1 HEAD`` in the clone (whose branch is already prepared)."""
    clone = ctx.ensure_clone()
    if not ctx.shell.dry_run:
        check_cli_import(clone)
    env = {ASV_CONFIG_ENV: str(clone.path / "asv.conf.json")}
    folder = ctx.run_dir / result.label.replace(" ", "_")
    for i in range(1, ctx.trials + 1):
        out = folder / f"trial_{i:02d}"
        cmd = cli_command("continuous", "HEAD~1", "HEAD", *ctx.continuous_options(change), "--output-dir", str(out),
                          safe_path=True)
        result.commands.append(ctx.shell.show(cmd, clone.path, env))
        log = folder / f"trial_{i:02d}.log"
        code, secs = ctx.shell.run(cmd, clone.path, env, log=log)
        verdict = None if ctx.shell.dry_run else read_json(out / "verdict.json")
        trial = judge_trial(i, code, secs, verdict, change,
                            load_asv_names([out / "current", out / "baseline", out]))
        trial.verdict_path = str(out / "verdict.json")
        _check_commits(trial, verdict, result.commits)
        _record(ctx, result, trial, log)


def _check_commits(trial: Trial, verdict: Optional[Mapping[str, Any]], commits: Mapping[str, str]) -> None:
    """Flag a trial whose verdict names other commits than the ones prepared (a wrong build)."""
    if not verdict:
        return
    for key in ("base", "head"):
        got, want = str(verdict.get(key) or ""), commits.get(key, "")
        if got and want and not (want.startswith(got) or got.startswith(want)) and trial.error is None:
            trial.error = f"the verdict's {key} is {got}, expected {want}"


def run_aa_continuous(ctx: Context, result: ModeResult) -> None:
    """The A/A pair in the clone (base + empty commit), then N continuous trials."""
    clone = ctx.ensure_clone()
    head = prepare_aa(ctx.shell, clone)
    result.commits = {"base": clone.base, "head": head}
    run_continuous_trials(ctx, result, None)


def run_planted(ctx: Context, result: ModeResult) -> None:
    """The planted commit in the clone (base + the change), then N continuous trials."""
    assert result.change is not None
    clone = ctx.ensure_clone()
    head = prepare_planted(ctx.shell, clone, result.change)
    result.commits = {"base": clone.base, "head": head}
    run_continuous_trials(ctx, result, result.change)
