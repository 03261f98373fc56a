"""The command line: the argparse parser (its description is the package docstring, the method), the
plan of (mode, change) pairs an invocation runs, the checks that reject arguments before anything
runs, the run of every planned mode with the JSON summary rewritten after each trial, and main with
its exit codes (0 every trial ran, whatever the verdicts; 1 an error; 130 interrupted)."""

from __future__ import annotations

import argparse
import datetime as _dt
import math
import sys
import tempfile
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import __doc__ as METHOD  # the package docstring: the method, printed by --help
from .clone import remove_clone
from .context import Context
from .planted import CHANGES, PlantError, PlantedChange
from .shell import EXIT_ERROR, EXIT_OK, HarnessError, Shell
from .summary import ModeResult, table, write_summary
from .trials import run_aa_continuous, run_aa_sequential, run_planted
from .verify import CHUNK, cmd_verify

REPO_ROOT = Path(__file__).resolve().parents[2]


def _parser() -> argparse.ArgumentParser:
    """The harness's command line (``--help``: the method, the modes, the targets)."""
    parser = argparse.ArgumentParser(
        prog="python scripts/gate_trust.py", description=METHOD,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Targets (issue #9, 2 cores, default profile): aa-sequential and aa-continuous 0 exit-2 in\n"
               "10 trials; store_single, store_batch, retrieve, search detected in >= 9/10 with nothing\n"
               "unrelated flagged; recall and ltm_record detected 10/10. `changes` lists the related benchmarks.")
    sub = parser.add_subparsers(dest="mode", required=True, metavar="MODE")
    place = argparse.ArgumentParser(add_help=False)
    place.add_argument("--work-dir", help="clone, trial outputs and summaries (default: a new temp dir)")
    place.add_argument("--repo", default=str(REPO_ROOT), help="the repository to measure (default: this one)")
    place.add_argument("--keep", action="store_true", help="keep the scratch clone (reused with the same --work-dir)")
    place.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    trials = argparse.ArgumentParser(add_help=False, parents=[place])
    trials.add_argument("--trials", type=int, default=10, help="trials per mode (default 10)")
    trials.add_argument("--category", action="append", default=[],
                        help="only this category (repeatable; default: the whole suite)")
    trials.add_argument("--profile", default="default", help="benchmark profile (default: default)")
    trials.add_argument("--threshold", type=float, default=0.1, help="gate threshold (default 0.1)")
    trials.add_argument("--bench", action="append",
                        help="continuous only: --bench REGEX passed to the gate (repeatable)")
    trials.add_argument("--no-confirm", action="store_true", help="continuous only: skip the confirmation pass")
    trials.add_argument("--related-only", action="store_true",
                        help="planted only: pass --bench <the change's related benchmarks> (faster, but unrelated "
                             "flags are only seen there; with --category the gate runs the union)")
    modes = {
        "aa-sequential": "A/A: N+1 x `cli run` on this checkout, `cli compare --json` of each run against the one "
                         "before; every exit 2 is a false alarm",
        "aa-continuous": "A/A: `cli continuous HEAD~1 HEAD` N times in a scratch clone whose HEAD is an empty "
                         "commit (same tree, two hashes); every exit 2 is a false alarm",
        "planted": "`cli continuous <base> <planted>` N times in a scratch clone with one planted change "
                   "committed; counts detections (exit 2 + a related regression) and unrelated flags",
        "all": "aa-sequential, aa-continuous, then every planted change, N trials each, one clone",
    }
    for name, text in modes.items():
        mode = sub.add_parser(name, parents=[trials], help=text, description=text)
        if name == "planted":
            mode.add_argument("--change", action="append", choices=sorted(CHANGES), required=True,
                              help="the planted change (repeatable)")
    text = "measure each planted change directly (no CLI, no asv): the base and the patched `memory` " \
           "imported side by side; time ratios, recall@10, LTM bytes"
    verify = sub.add_parser("verify", parents=[place], help=text, description=text)
    verify.add_argument("--change", action="append", choices=sorted(CHANGES), help="only this change (repeatable)")
    verify.add_argument("--pairs", type=int, default=200, help="timed chunk pairs per slowdown (default 200)")
    verify.add_argument("--states", type=int, default=1000, help="complexity-1 states per system (default 1000)")
    verify.add_argument("--complexity", type=int, default=1, help="state complexity, as the suite's (default 1)")
    verify.add_argument("--chunk", type=int, help="calls (store_batch: states) per timed chunk (default: "
                        + ", ".join(f"{k} {v}" for k, v in CHUNK.items()) + ")")
    verify.add_argument("--build-ext", action="store_true", help="build the C speedups in the clone first")
    sub.add_parser("changes", help="list the planted changes and their related benchmarks")
    return parser


def plan(mode: str, args: argparse.Namespace) -> List[Tuple[str, Optional[PlantedChange]]]:
    """The (mode, change) pairs an invocation runs, in order."""
    if mode == "all":
        return [("aa-sequential", None), ("aa-continuous", None)] + [("planted", c) for c in CHANGES.values()]
    if mode == "planted":
        return [("planted", CHANGES[name]) for name in args.change]
    return [(mode, None)]


RUNNERS: Dict[str, Callable[[Context, ModeResult], None]] = {
    "aa-sequential": run_aa_sequential, "aa-continuous": run_aa_continuous, "planted": run_planted,
}


def print_changes() -> int:
    """The planted changes, their files and related benchmarks."""
    for change in CHANGES.values():
        print(f"{change.name}: {change.summary}\n  edits {change.file}; related benchmarks:")
        for rule in change.related:
            params = ", ".join(f"{k}={v}" for k, v in rule.params)
            print(f"    {rule.asv}" + (f"  [{params}]" if params else ""))
    return EXIT_OK


def make_context(args: argparse.Namespace, stamp: str) -> Context:
    """The shared settings of this invocation (the work dir is created unless dry)."""
    shell = Shell(dry_run=args.dry_run)
    if args.work_dir:
        work = Path(args.work_dir).resolve()
    elif args.dry_run:
        work = Path(tempfile.gettempdir()) / f"gate-trust-{stamp}"
    else:
        work = Path(tempfile.mkdtemp(prefix="gate-trust-"))
    if not args.dry_run:
        work.mkdir(parents=True, exist_ok=True)
    get = lambda name, default=None: getattr(args, name, default)  # noqa: E731 - verify has fewer options
    return Context(shell, Path(args.repo).resolve(), work, work / f"runs_{stamp}", get("trials", 0),
                   list(get("category", [])), get("profile", "default"), get("threshold", 0.1), get("bench"),
                   get("no_confirm", False), get("related_only", False))


def validate(args: argparse.Namespace) -> None:
    """Reject arguments that cannot work, before anything runs."""
    if getattr(args, "trials", 1) < 1:
        raise HarnessError(f"--trials must be at least 1; got {args.trials}")
    if getattr(args, "related_only", False) and getattr(args, "bench", None):
        raise HarnessError("--related-only and --bench exclude each other")
    threshold = getattr(args, "threshold", 0.1)
    if not math.isfinite(threshold) or threshold < 0:
        raise HarnessError(f"--threshold must be a number >= 0; got {threshold}")
    if getattr(args, "pairs", 1) < 1 or getattr(args, "states", 1000) < 20:
        raise HarnessError("--pairs must be at least 1 and --states at least 20")
    if not (Path(args.repo) / ".git").exists():
        raise HarnessError(f"not a git repository: {args.repo}")


def run_modes(args: argparse.Namespace, ctx: Context, stamp: str) -> int:
    """Every planned mode in turn; the summary is rewritten after each trial; returns the exit code."""
    summary_path = ctx.work_dir / f"gate_trust_{args.mode}_{stamp}.json"
    settings = {k: v for k, v in vars(args).items() if k != "dry_run"} | {"work_dir": str(ctx.work_dir),
                                                                         "python": sys.executable}
    results: List[ModeResult] = []
    ctx.on_trial = lambda: write_summary(summary_path, settings, results)
    if not ctx.shell.dry_run:
        print(f"gate_trust: work dir {ctx.work_dir}; summary {summary_path}", flush=True)
    for mode, change in plan(args.mode, args):
        result = ModeResult(mode, change)
        results.append(result)
        if ctx.shell.dry_run:
            ctx.shell.echo(f"# ---- {result.label}: {ctx.trials} trial(s)")
        RUNNERS[mode](ctx, result)
    if ctx.shell.dry_run:
        return EXIT_OK
    write_summary(summary_path, settings, results)
    print(table(results))
    print(f"summary: {summary_path}")
    return EXIT_ERROR if any(t.error for r in results for t in r.trials) else EXIT_OK


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point: 0 every trial ran (whatever the verdicts), 1 an error."""
    args = _parser().parse_args(argv)
    if args.mode == "changes":
        return print_changes()
    stamp = _dt.datetime.now().strftime("%Y%m%d_%H%M%S")
    ctx: Optional[Context] = None
    try:
        validate(args)
        ctx = make_context(args, stamp)
        if args.mode == "verify":
            return cmd_verify(args, ctx)
        return run_modes(args, ctx, stamp)
    except (HarnessError, PlantError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    finally:
        if ctx is not None and ctx.clone is not None and not args.keep and not args.dry_run:
            remove_clone(ctx.clone)


if __name__ == "__main__":
    sys.exit(main())
