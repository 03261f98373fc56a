"""Command-line interface: ``python -m memory.benchmarking.cli {run,list,results,compare,continuous,publish,preview}``.

Exit codes: 0 success; 1 error (bad input, a failed benchmark, nothing to compare); 2 a performance
regression (``compare`` and ``continuous``). Errors are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from memory.errors import ConfigError

from .config import PROFILE_ENV, PROFILES, BenchmarkConfig
from .verdict import DEFAULT_ALPHA, SCREEN_ALPHA

EXIT_OK, EXIT_ERROR, EXIT_REGRESSION = 0, 1, 2
DEBUG_ENV = "AGENTMEMORY_BENCH_DEBUG"


class CliError(Exception):
    """Bad command-line input; the message is printed as one line."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 1 (2 means "regression" for compare)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(f"{message} (see {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m memory.benchmarking.cli",
                     description="Run AgentMemory benchmarks (through asv), list them, report and compare results.")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    _add_run_and_list(sub)
    _add_results_and_compare(sub)
    _add_continuous(sub)
    _add_publish_and_preview(sub)
    return parser


def _add_run_and_list(sub: Any) -> None:
    run = sub.add_parser("run", help="run benchmarks (all, a category, or one benchmark)")
    run.add_argument("--category", help="run only this category (e.g. storage)")
    run.add_argument("--benchmark", help="run only this benchmark of --category (e.g. write_throughput)")
    run.add_argument("--config", help="a BenchmarkConfig JSON file (BenchmarkConfig.save())")
    run.add_argument("--output-dir", help="where result JSON files go (default: the config's output_dir, "
                                          "benchmark_results)")
    run.add_argument("--params", help="JSON object (or a file holding one) overriding fields of the selected "
                                      "category's config, e.g. '{\"batch_sizes\": [10, 100]}'")
    run.add_argument("--parallel", action="store_true", help="run benchmarks in worker processes")
    run.add_argument("--workers", type=int, default=4, help="worker processes with --parallel (default 4)")
    run.add_argument("--profile", choices=PROFILES, help=f"grid and timing profile (default: the config's, "
                                                          f"or ${PROFILE_ENV})")

    lst = sub.add_parser("list", help="list the available benchmarks")
    lst.add_argument("--category", help="only this category")
    lst.add_argument("--config", help="a BenchmarkConfig JSON file (its grids are shown)")
    lst.add_argument("--profile", choices=PROFILES, help="grid profile whose parameters are shown")


def _add_results_and_compare(sub: Any) -> None:
    res = sub.add_parser("results", help="list results or build an HTML report")
    res.add_argument("action", choices=("list", "report"), help="list | report")
    res.add_argument("--category", help="only this category")
    res.add_argument("--benchmark", help="only this benchmark")
    res.add_argument("--results-dir", default="benchmark_results", help="default: benchmark_results")
    res.add_argument("--output-dir", help="report folder (default: <results-dir>/reports)")

    cmp_ = sub.add_parser("compare", help="compare results with a baseline (exit 2 on regression)")
    cmp_.add_argument("--current-dir", required=True, help="results of the run to check")
    cmp_.add_argument("--baseline-dir", required=True, help="results of the baseline run")
    cmp_.add_argument("--threshold", type=float, default=0.1,
                      help="relative change counted as a regression/improvement (default 0.1 = 10%%)")
    cmp_.add_argument("--output-dir", help="folder of the HTML comparison page (default: --current-dir)")
    cmp_.add_argument("--json", dest="json_path", help="also write the verdict as JSON to this file")
    cmp_.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                      help=f"significance level of the rank test on timing samples (default {DEFAULT_ALPHA})")
    cmp_.add_argument("--judge-timings", action="store_true",
                      help="judge timings of runs measured at different times as if side by side (only on a "
                           "dedicated quiet machine; by default such changes are 'unconfirmed' and fail no build)")


def _add_continuous(sub: Any) -> None:
    cont = sub.add_parser("continuous", help="build two commits with asv, measure them interleaved, confirm "
                                             "and judge (exit 2 on regression)")
    cont.add_argument("base", help="the baseline commit (e.g. main)")
    cont.add_argument("head", nargs="?", default="HEAD", help="the candidate commit (default HEAD)")
    cont.add_argument("--category", action="append", help="only this category (repeatable)")
    cont.add_argument("--bench", action="append", help="only asv benchmarks matching this regular expression "
                                                       "(repeatable; asv's -b)")
    cont.add_argument("--config", help="a BenchmarkConfig JSON file (BenchmarkConfig.save())")
    cont.add_argument("--profile", choices=PROFILES, help="grid and timing profile (default: the config's)")
    cont.add_argument("--threshold", type=float, default=0.1, help="relative change counted (default 0.1)")
    cont.add_argument("--alpha", type=float, default=DEFAULT_ALPHA,
                      help=f"significance level of the verdict (default {DEFAULT_ALPHA})")
    cont.add_argument("--screen-alpha", type=float, default=SCREEN_ALPHA,
                      help="level at which the first pass's rank test puts a timing forward to the confirmation "
                           f"pass (default {SCREEN_ALPHA}; with --no-confirm the first pass judges at --alpha)")
    cont.add_argument("--output-dir", default="benchmark_results/continuous",
                      help="where baseline/, current/, the HTML page and verdict.json go "
                           "(default benchmark_results/continuous)")
    cont.add_argument("--no-confirm", action="store_true",
                      help="skip the confirmation pass that re-measures flagged timings")


def _add_publish_and_preview(sub: Any) -> None:
    from .publish import DEFAULT_PORT

    pub = sub.add_parser("publish", help="asv publish, then make the dashboard self-contained (works offline)")
    pub.add_argument("--open", action="store_true", help="open the dashboard (index.html) in a web browser")
    prev = sub.add_parser("preview", help="serve the published dashboard on 127.0.0.1 (Ctrl-C stops)")
    prev.add_argument("--port", type=int, default=DEFAULT_PORT,
                      help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)")


# ---- helpers ----------------------------------------------------------------------------------


def _load_config(path: Optional[str], profile: Optional[str]) -> BenchmarkConfig:
    """--config file (else $AGENTMEMORY_BENCH_CONFIG, else defaults); $AGENTMEMORY_BENCH_PROFILE, then
    --profile, switch the profile of every value the file does not set explicitly."""
    if path:
        if not Path(path).is_file():
            raise CliError(f"config file not found: {path}")
        config = BenchmarkConfig.load(path)
        env_profile = os.environ.get(PROFILE_ENV, "").strip()
        if env_profile:
            config = config.with_profile(env_profile)
    else:
        config = BenchmarkConfig.from_env()
    if profile:
        config = config.with_profile(profile)
    return config


def _load_params(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """--params as JSON text or the path of a JSON file."""
    if text is None:
        return None
    source = "--params"
    if Path(text).is_file():
        source = f"--params file {text}"
        try:
            text = Path(text).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CliError(f"cannot read {source}: {exc}") from None
    elif text.strip().endswith(".json") and not text.strip().startswith("{"):
        raise CliError(f"--params file not found: {text}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"invalid JSON in {source}: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(f"{source} must be a JSON object like '{{\"batch_sizes\": [10, 100]}}'")
    return value


# ---- commands ---------------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    """Run benchmarks; exit 1 when any failed."""
    from .runner import BenchmarkRunner

    if args.benchmark and not args.category:
        raise CliError("--benchmark needs --category (e.g. --category storage --benchmark write_throughput)")
    if args.workers < 1:
        raise CliError(f"--workers must be at least 1; got {args.workers}")
    config = _load_config(args.config, args.profile)
    if args.output_dir:
        config.output_dir = args.output_dir
    params = _load_params(args.params)
    runner = BenchmarkRunner(config)
    # Validate names and parameters before anything runs.
    suite = runner.discover_benchmarks(args.category)
    if args.benchmark and args.benchmark not in suite[args.category]:
        raise CliError(f"unknown benchmark {args.benchmark!r} in category {args.category!r}; valid: "
                       f"{', '.join(sorted(suite[args.category]))}")
    runner.config_with_params(args.category, params)
    if args.benchmark:
        paths = [runner.run_benchmark(args.category, args.benchmark, params=params)]
    elif args.category:
        paths = runner.run_category(args.category, params=params, parallel=args.parallel,
                                    max_workers=args.workers)
    else:
        paths = [p for ps in runner.run_all(params=params, parallel=args.parallel,
                                            max_workers=args.workers).values() for p in ps]
    print(runner.summary())
    print(f"{len(paths)} result file(s) in {config.output_dir}")
    return EXIT_ERROR if runner.failures else EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    """List categories and benchmarks of the asv suite."""
    from .runner import BenchmarkRunner

    runner = BenchmarkRunner(_load_config(args.config, args.profile))
    suite = runner.discover_benchmarks(args.category)
    for category, benchmarks in suite.items():
        print(f"{category}:")
        for name, info in benchmarks.items():
            grid = ", ".join(f"{k}={v}" for k, v in info["params"].items())
            print(f"  {name:<32} {len(info['asv_benchmarks'])} asv benchmark(s)"
                  + (f"  [{grid}]" if grid else "") + (f"  {info['doc']}" if info.get("doc") else ""))
    return EXIT_OK


def cmd_results(args: argparse.Namespace) -> int:
    """results list | results report."""
    from .documents import find_documents
    from .results import BenchmarkResults

    folder = Path(args.results_dir)
    if not folder.is_dir():
        raise CliError(f"results directory not found: {args.results_dir}")
    results = BenchmarkResults(args.results_dir)
    if args.action == "list":
        found = find_documents(args.results_dir, args.category, args.benchmark)
        if not found:
            scope = " ".join(x for x in (args.category, args.benchmark) if x)
            raise CliError(f"no results{' for ' + scope if scope else ''} in {args.results_dir}")
        width = max(len(p) for p, _ in found)
        print(f"{'file':<{width}}  {'category':<18} {'benchmark':<30} {'timestamp':<16} status")
        for path, doc in found:
            status = f"error: {doc['error']}" if doc.get("error") else "ok"
            print(f"{path:<{width}}  {doc['category']:<18} {doc['benchmark']:<30} "
                  f"{doc.get('timestamp', ''):<16} {status}")
        print(f"{len(found)} result file(s)")
        return EXIT_OK
    report = results.generate_report(category=args.category, benchmark_name=args.benchmark,
                                     output_dir=args.output_dir)
    print(f"report: {report}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare with a baseline: 0 no regression, 2 regression, 1 error."""
    from .compare import run_compare

    return run_compare(args.current_dir, args.baseline_dir, args.threshold, args.output_dir, args.json_path,
                       args.alpha, args.judge_timings)


def cmd_continuous(args: argparse.Namespace) -> int:
    """Build BASE and HEAD, measure them interleaved, confirm: 0 no regression, 2 regression, 1 error."""
    from .continuous import run_continuous

    return run_continuous(args.base, args.head, _load_config(args.config, args.profile),
                          categories=args.category, benches=args.bench, threshold=args.threshold,
                          alpha=args.alpha, output_dir=args.output_dir, confirm=not args.no_confirm,
                          screen_alpha=args.screen_alpha)


def cmd_publish(args: argparse.Namespace) -> int:
    """asv publish of the project's results, the site made self-contained; --open shows it."""
    from .publish import open_in_browser, publish

    index = publish()
    print(f"dashboard: {index}")
    if args.open:
        open_in_browser(index)
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    """Serve the published site on 127.0.0.1 until Ctrl-C."""
    from .publish import preview

    if not 0 <= args.port <= 65535:
        raise CliError(f"--port must be between 0 and 65535; got {args.port}")
    return preview(args.port)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit code (0 ok, 1 error, 2 regression)."""
    from .asv_adapter import AdapterError
    from .asvrun import Terminated, sigterm_raises
    from .compare import CompareError
    from .documents import ResultsError
    from .continuous import ContinuousError
    from .publish import PublishError
    from .runner import RunnerError

    parser = _parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if not args.command:
            parser.print_help()
            return EXIT_ERROR
        handler = {"run": cmd_run, "list": cmd_list, "results": cmd_results, "compare": cmd_compare,
                   "continuous": cmd_continuous, "publish": cmd_publish, "preview": cmd_preview}
        with sigterm_raises():
            return handler[args.command](args)
    except (CliError, ConfigError, RunnerError, ResultsError, CompareError, AdapterError, ContinuousError,
            PublishError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("error: terminated", file=sys.stderr)
        return 143
    except Exception as exc:  # never a traceback for the user; set AGENTMEMORY_BENCH_DEBUG=1 to see it
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
