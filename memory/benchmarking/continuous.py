"""``cli continuous BASE HEAD``: the regression gate that measures both commits side by side.

asv builds each commit into its own virtualenv and runs the suite with ``--interleave-rounds``:
round 1 of BASE, round 1 of HEAD, round 2 of BASE, … so a change in the machine's load hits both
commits alike instead of only the one measured later. Both commits' results become the documented
JSON (``<output-dir>/baseline``, ``<output-dir>/current``) and are judged by
:func:`memory.benchmarking.compare.compare_dirs`. That first pass only screens: a timing beyond the
threshold at p < ``screen_alpha`` (default :data:`memory.benchmarking.verdict.SCREEN_ALPHA`) is
measured again in a confirmation pass that runs both commits at once, sample against sample
(:mod:`memory.benchmarking.paired`), and a verdict stands only when those pairs give it at `alpha`.
Exit codes: 0 no regression, 2 regression, 1 error (a build failure, a benchmark failing on HEAD,
bad input).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from memory.errors import ConfigError

from . import asv_adapter
from .asvrun import (STATUS_LINE, commit_hash, ensure_asv_machine, fast_install_commands, merge_into_store,
                     parse_asv_errors, stream_lines)
from .compare import (EXIT_ERROR, EXIT_OK, EXIT_REGRESSION, CompareError, Comparison, MetricChange, compare_dirs,
                      is_percent, report)
from .config import CONFIG_ENV, OPT_IN_CATEGORIES, PROFILE_ENV, BenchmarkConfig, require_category
from .documents import find_documents, stability_lines, unstable_timings
from .runner import NAMESPACE_LOG_ENV, conf_for_categories, sweep_leftovers
from . import paired, rounds, verdict
from .verdict import DEFAULT_ALPHA, SCREEN_ALPHA

RUN_TIMEOUT_SECONDS = 3 * 3600


class ContinuousError(Exception):
    """The comparison cannot be made: unknown commit, no asv project, asv failed to build or run."""


def resolve_commit(repo: Path, name: str) -> str:
    """The full hash of commit `name` (a branch, tag or hash) in `repo`; ContinuousError if unknown."""
    found = commit_hash(repo, name)
    if found is None:
        raise ContinuousError(f"unknown commit {name!r} in {repo}")
    return found


def selection_regexes(categories: Optional[Sequence[str]], benches: Optional[Sequence[str]],
                      infos: Sequence[Dict[str, Any]]) -> List[str]:
    """asv ``--bench`` regexes for the chosen categories and benchmark patterns; neither: every category
    but the opt-in ones (``implementations`` measures other stores: run only when named)."""
    known = sorted({asv_adapter.documented_names(i)[0] for i in infos})
    if not categories and not benches:
        return [f"^{re.escape(c)}\\." for c in known if c not in OPT_IN_CATEGORIES]
    out: List[str] = []
    for category in categories or ():
        for part in category.split(","):
            out.append(f"^{re.escape(require_category(part.strip(), known, ContinuousError))}\\.")
    for pattern in benches or ():
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ContinuousError(f"--bench {pattern!r} is not a regular expression: {exc}") from None
        out.append(pattern)
    return out


def _is_progress(shown: str) -> bool:
    """An asv output line worth showing as progress: a benchmark's outcome, a commit's start, a build step."""
    status = STATUS_LINE.match(shown)
    return bool(status and re.match(r"(ok|failed|n/a|timed out|skipped)\b", status.group(2) or "")) \
        or "For " in shown and " commit " in shown \
        or shown.lstrip("·[]%. 0123456789").startswith(("Building", "Installing", "Creating"))


class _AsvSession:
    """One scratch folder with a private asv.conf.json (own results and html dirs; the project's
    environments, so builds are reused), and the runs made with it."""

    def __init__(self, project: asv_adapter.AsvProject, config: BenchmarkConfig, scratch: Path,
                 progress: Callable[[str], None], categories: Sequence[str] = ()):
        self.project, self.config, self.scratch, self.progress = project, config, scratch, progress
        self.categories = [part.strip() for c in categories for part in c.split(",")]
        # the environments asv builds into (a folder of their own when an opt-in category needs peers)
        self.env_dir = Path(conf_for_categories(project.private_conf(scratch, scratch), self.categories)["env_dir"])
        self.config_path = scratch / "benchmark_config.json"
        self.config_path.write_text(json.dumps(config.to_dict(), indent=2), encoding="utf-8")
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.env[CONFIG_ENV] = str(self.config_path)
        self.env[PROFILE_ENV] = config.profile
        self.namespace_log = scratch / "namespaces.log"  # the suite logs every Redis namespace it makes
        self.env[NAMESPACE_LOG_ENV] = str(self.namespace_log)

    def infos(self) -> List[Dict[str, Any]]:
        """The suite's benchmarks (with the adapter's naming attributes) under this config."""
        try:
            return asv_adapter.discover_configured(self.project.benchmark_dir, self.config)
        except asv_adapter.AdapterError as exc:
            raise ContinuousError(str(exc)) from None

    def run(self, label: str, commits: Sequence[str], regexes: Sequence[str]
            ) -> Tuple[Path, str, rounds.RoundWatcher]:
        """``asv run`` of `commits` interleaved, into results dir `label`; (results dir, output, the
        watcher that tells each benchmark's rounds apart)."""
        results = self.scratch / label
        watcher = rounds.RoundWatcher(results)
        conf = conf_for_categories(self.project.private_conf(results, self.scratch / "html"), self.categories)
        conf.update(fast_install_commands(conf))
        conf_path = self.scratch / f"asv-{label}.conf.json"
        conf_path.write_text(json.dumps(conf, indent=2), encoding="utf-8")
        hashes = self.scratch / f"{label}.hashes"
        hashes.write_text("".join(f"{c}\n" for c in commits), encoding="utf-8")
        cmd = [sys.executable, "-m", "asv", "run", f"HASHFILE:{hashes}", "--interleave-rounds",
               "--record-samples", "--config", str(conf_path), "--show-stderr"]
        cmd += [arg for regex in regexes for arg in ("--bench", regex)]

        def show(line: str) -> None:
            watcher.on_line(line)
            if _is_progress(line.strip()):
                self.progress(f"{label}: {line.strip()}")

        try:
            returncode, lines, timed_out = stream_lines(cmd, self.env, self.project.root,
                                                        time.monotonic() + RUN_TIMEOUT_SECONDS, show)
        finally:
            self.sweep()
        if timed_out:
            raise ContinuousError(f"asv run exceeded {RUN_TIMEOUT_SECONDS} s")
        if returncode != 0 and not list(results.glob("*/*.json")):
            tail = [ln for ln in lines if ln.strip()][-5:]
            raise ContinuousError(f"asv run failed (exit {returncode}): " + " | ".join(t.strip() for t in tail))
        watcher.snapshot()  # the last round's samples
        return results, "\n".join(lines), watcher

    def sweep(self) -> None:
        """Remove the Redis keys and PostgreSQL rows benchmark processes of the last run left (failed or
        killed before their teardown); every process of that run has ended."""
        for line in sweep_leftovers([self.namespace_log]):
            self.progress(line)


def _result_files(results: Path) -> Dict[str, Path]:
    """{commit hash: asv result file} in a private results dir."""
    out: Dict[str, Path] = {}
    for path in sorted(results.glob("*/*.json")):
        if path.name == "machine.json":
            continue
        try:
            commit = json.loads(path.read_text(encoding="utf-8")).get("commit_hash")
        except (OSError, json.JSONDecodeError):
            continue
        if commit:
            out[commit] = path
    return out


def _export(results: Path, commits: Dict[str, str], infos: List[Dict[str, Any]], target: Path,
            errors: Dict[str, str], config: BenchmarkConfig, watcher: rounds.RoundWatcher) -> Dict[str, List[str]]:
    """Documented JSON of each commit's results into target/<role>, both sides marked as one
    interleaved measurement (``metadata.interleaved_run``), each timing with its samples per round;
    {role: [failed benchmark keys]}."""
    files = _result_files(results)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    owner = {i["name"]: "/".join(asv_adapter.documented_names(i)) for i in infos}
    by_benchmark: Dict[str, str] = {}
    for name, message in errors.items():
        if name in owner:
            by_benchmark.setdefault(owner[name], message)
    failed: Dict[str, List[str]] = {}
    for role, commit in commits.items():
        if commit not in files:
            raise ContinuousError(f"asv recorded no results for {role} commit {commit[:8]}")
        extra = {"profile": config.profile, "role": role, "continuous": True,
                 "interleaved_run": f"{results.name}:{commits['baseline'][:12]}..{commits['current'][:12]}@{stamp}"}
        paths = asv_adapter.export_results([files[commit]], target / role, infos=infos, errors=by_benchmark,
                                           extra_metadata=extra, samples_per_round=watcher.samples_per_round(commit))
        failed[role] = []
        for path in paths:
            doc = json.loads(Path(path).read_text(encoding="utf-8"))
            if doc.get("error"):
                failed[role].append(f"{doc['category']}/{doc['benchmark']}: {doc['error']}")
    return failed


def _confirm(comparison: Comparison, session: _AsvSession, commits: Dict[str, str], output_dir: Path,
             threshold: float, alpha: float) -> float:
    """Re-measure the flagged timings block against block (:mod:`memory.benchmarking.paired`); a
    verdict the pairs do not repeat becomes noise (``confirmed`` False). The pairs and each verdict
    go to ``<output_dir>/confirm/paired.json``; returns the seconds it took."""
    started = time.monotonic()
    flagged = [c for c in comparison.changes if c.status in ("regression", "improvement")
               and c.kind == "timing" and c.asv_name]
    if not flagged:
        return 0.0
    targets = {id(c): paired.Target(c.asv_name, tuple(c.asv_params or ())) for c in flagged}
    judges = {targets[id(c)]: paired_judge(c, threshold, alpha) for c in flagged}
    unique = sorted(judges, key=lambda t: t.label)
    session.progress(f"confirmation pass: {len(unique)} flagged timing(s), both commits side by side in "
                     f"{paired.PROCESS_PAIRS} pairs of processes, {min(paired.pairs_at_once(), paired.PROCESS_PAIRS)} "
                     "at a time (one per CPU core)")

    def still_open(target: paired.Target, pairs: paired.Pairs) -> bool:
        return could_still_confirm(judges[target], pairs.values, paired.PROCESS_PAIRS - len(pairs.values))

    try:
        builds = paired.unpack_builds(session.env_dir, commits, session.scratch)
        measured = paired.measure_pairs(unique, builds, session.project.benchmark_dir, session.env,
                                        session.progress, still_open=still_open)
    finally:
        session.sweep()
    evidence = []
    for change in flagged:
        target = targets[id(change)]
        pairs = measured[target]
        found = judges[target](pairs.values)
        change.confirmed = found.confirmed
        problems = f"; {len(pairs.problems)} problem(s): {pairs.problems[0]}" if pairs.problems else ""
        if found.pairs:  # the pairs' median is the better estimate; the screen's stays as screen_change
            change.screen_change, change.change = change.change, metric_change_of(change, found.change)
        if found.confirmed:
            status = "regression" if found.change * raw_direction(change)[0] < 0 else "improvement"
            if status != change.status:  # the screen saw this measurement move, the pairs say which way
                change.reason += f"; the re-measurement reverses the first pass ({change.status})"
                change.status = status
            change.reason += f"; confirmed by the {found.reason}"
        else:
            change.reason += f"; not confirmed: {found.reason}{problems}"
            change.status = "noise"
        evidence.append({"benchmark": target.label, "metric": change.metric, "flagged": change.status
                         if found.confirmed else "noise", "confirmed": found.confirmed,
                         "change": found.change, "p_value": found.p_value, "pairs": found.pairs,
                         "process_changes": list(found.process_changes), "reason": found.reason,
                         "problems": pairs.problems, "cpus": pairs.cpus, "seconds": pairs.seconds,
                         "baseline_current_pairs": pairs.values})
    target_dir = output_dir / "confirm"
    target_dir.mkdir(parents=True, exist_ok=True)
    (target_dir / "paired.json").write_text(json.dumps(evidence, indent=1), encoding="utf-8")
    seconds = time.monotonic() - started
    session.progress(f"confirmation pass: {len(unique)} timing(s) in {seconds:.0f} s, "
                     f"{sum(1 for e in evidence if e['confirmed'])} confirmed")
    return seconds


def raw_direction(change: MetricChange) -> Tuple[int, bool]:
    """(direction, percent) of the benchmark's own value behind a flagged metric: seconds (lower is
    better) for a ``time_*`` benchmark whatever metric it was derived into, else the track's."""
    timed = str(change.asv_name).rsplit(".", 1)[-1].startswith("time_")
    return (-1, False) if timed else (change.direction, is_percent(change.metric))


def metric_change_of(change: MetricChange, raw_change: float) -> float:
    """`raw_change` of the benchmark's own value (seconds a call, or the track) as a change of
    `change`'s metric: the same number where both point the same way, else a rate derived from the
    time (throughput = items / seconds: 1 / (1 + raw) - 1)."""
    if raw_direction(change)[0] == change.direction or raw_change <= -1.0:
        return raw_change
    return 1.0 / (1.0 + raw_change) - 1.0


def paired_judge(change: MetricChange, threshold: float, alpha: float
                  ) -> Callable[[Sequence[Sequence[Tuple[float, float]]]], verdict.PairedVerdict]:
    """The paired verdict on `change` from its (baseline, current) block pairs per process pair, in the
    direction the pairs show: the first pass only screens (on a loaded machine its 6 + 6 samples even
    got a planted slowdown's sign wrong), so either verdict is tested, each at alpha / 2."""
    direction, percent = raw_direction(change)

    def judge(values: Sequence[Sequence[Tuple[float, float]]]) -> verdict.PairedVerdict:
        changes = [paired.relative_changes(p, percent) for p in values]
        pooled = [c for process in changes for c in process]
        worse = bool(pooled) and statistics.median(pooled) * direction < 0
        return verdict.paired_verdict(changes, direction, threshold, worse=worse, alpha=alpha / 2)

    return judge


def could_still_confirm(judge: Callable[[Sequence[Sequence[Tuple[float, float]]]], verdict.PairedVerdict],
                        values: Sequence[Sequence[Tuple[float, float]]], remaining: int) -> bool:
    """Whether `judge` could still confirm a change after `remaining` more process pairs: it could
    if those all measured the most extreme change either way (every block pair, as many as
    paired.MAX_PAIRS). Adding agreeing pairs never weakens the sign test nor moves the median the
    other way, so when even that best case is not confirmed, measuring them cannot change the verdict."""
    if remaining <= 0:
        return False
    for extreme in (1e9, -1e9):
        best = list(values) + [[(1.0, extreme)] * paired.MAX_PAIRS for _ in range(remaining)]
        if judge(best).confirmed:
            return True
    return False


def _commits(project: asv_adapter.AsvProject, base: str, head: str) -> Dict[str, str]:
    """{"baseline": hash, "current": hash} of `base` and `head`; ContinuousError when unknown or the same."""
    commits = {"baseline": resolve_commit(project.repo, base), "current": resolve_commit(project.repo, head)}
    if commits["baseline"] == commits["current"]:
        raise ContinuousError(f"{base} and {head} are the same commit {commits['current'][:8]}; for an A/A "
                              "check, compare two commits with the same tree (e.g. an empty commit)")
    return commits


def _fresh_output(output_dir: str) -> Path:
    """`output_dir`, without the documents of an earlier comparison."""
    out = Path(output_dir)
    for sub in ("baseline", "current", "confirm"):
        shutil.rmtree(out / sub, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    return out


def _measure(session: _AsvSession, commits: Dict[str, str], regexes: List[str], infos: List[Dict[str, Any]],
             out: Path) -> Dict[str, List[str]]:
    """The first pass: both commits interleaved, exported to out/baseline and out/current and merged
    into the project's asv store; {role: [failed benchmark]}."""
    results, output, watcher = session.run("measure", [commits["baseline"], commits["current"]], regexes)
    errors = parse_asv_errors(output, [i["name"] for i in infos])
    failed = _export(results, commits, infos, out, errors, session.config, watcher)
    for path in _result_files(results).values():
        try:
            merge_into_store(path, results, session.project.results_dir)
        except (OSError, ValueError) as exc:
            session.progress(f"warning: could not merge results into {session.project.results_dir}: {exc}")
    return failed


def screen(out: Path, threshold: float, alpha: float, screen_alpha: float, confirm: bool) -> Comparison:
    """The first pass's comparison of out/current against out/baseline. With `confirm`, a timing
    beyond the threshold at p < `screen_alpha` is a candidate (regression or improvement) for the
    confirmation pass; without, the first pass is the verdict, at `alpha`."""
    try:
        comparison = compare_dirs(str(out / "current"), str(out / "baseline"), threshold,
                                  max(screen_alpha, alpha) if confirm else alpha)
    except CompareError as exc:
        raise ContinuousError(str(exc)) from None
    if confirm:
        comparison.alpha, comparison.screen_alpha = alpha, max(screen_alpha, alpha)
    for change in comparison.changes:
        if change.kind == "timing" and change.status in ("regression", "improvement"):
            _judge_rounds(change, threshold)
    return comparison


def _judge_rounds(change: MetricChange, threshold: float) -> None:
    """A flagged timing whose rounds (one process per commit each) did not all move its way is noise:
    one process slow for its whole life moves a side's median as a slower commit would."""
    changes = verdict.round_changes(change.baseline_samples or (), change.current_samples or (),
                                    change.baseline_rounds, change.current_rounds)
    if changes is None:
        return
    change.round_changes = changes
    if not verdict.rounds_agree(changes, change.direction, threshold, change.status):
        shown = ", ".join(f"{100 * c:+.1f} %" for c in changes)
        change.reason += (f"; not every round moved {verdict.ROUND_SHARE:g} x the threshold that way "
                          f"(per round {shown})")
        change.status = "noise"


def _say_problems(out: Path, failed: Dict[str, List[str]], say: Callable[[str], None]) -> None:
    """The timings unstable on this machine, then the benchmarks that failed on either commit."""
    for line in stability_lines(unstable_timings([doc for _, doc in find_documents(out / "current")])):
        say(line)
    for role, problems in failed.items():
        for problem in problems:
            say(f"FAILED on {role}: {problem}")


def run_continuous(base: str, head: str, config: BenchmarkConfig, categories: Optional[Sequence[str]] = None,
                   benches: Optional[Sequence[str]] = None, threshold: float = 0.1, alpha: float = DEFAULT_ALPHA,
                   output_dir: str = "benchmark_results/continuous", confirm: bool = True,
                   screen_alpha: float = SCREEN_ALPHA,
                   asv_config: Optional[str] = None, progress: Optional[Callable[[str], None]] = None) -> int:
    """Build and measure `base` and `head` side by side, judge, confirm, write the documented JSON of
    both, the HTML page and ``verdict.json`` into `output_dir`; return 0, 2 or 1 (see the module)."""
    say = progress or (lambda line: print(line, flush=True))
    started = time.monotonic()
    if not 0 <= threshold < float("inf"):
        raise ContinuousError(f"--threshold must be a number >= 0; got {threshold!r}")
    for name, level in (("--alpha", alpha), ("--screen-alpha", screen_alpha)):
        if not 0 < level < 1:
            raise ContinuousError(f"{name} must be a number between 0 and 1; got {level!r}")
    try:
        project = asv_adapter.load_project(asv_config)
    except ConfigError as exc:
        raise ContinuousError(str(exc)) from None
    commits = _commits(project, base, head)
    out = _fresh_output(output_dir)
    ensure_asv_machine(project.conf_path)
    scratch = Path(tempfile.mkdtemp(prefix="agentmemory-continuous-"))
    try:
        session = _AsvSession(project, config, scratch, say, categories or ())
        infos = session.infos()
        regexes = selection_regexes(categories, benches, infos)
        say(f"continuous: baseline {commits['baseline'][:8]} ({base}) against current {commits['current'][:8]} "
            f"({head}); profile {config.profile}; results in {out}")
        failed = _measure(session, commits, regexes, infos, out)
        comparison = screen(out, threshold, alpha, screen_alpha, confirm)
        confirm_seconds = _confirm(comparison, session, commits, out, threshold, alpha) if confirm else 0.0
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _say_problems(out, failed, say)
    code = report(comparison, str(out), str(out / "verdict.json"), base=commits["baseline"],
                  head=commits["current"], base_ref=base, head_ref=head, profile=config.profile,
                  confirmation=confirm, failed=failed, wall_seconds=round(time.monotonic() - started, 1),
                  confirm_seconds=round(confirm_seconds, 1))
    say(f"continuous: {time.monotonic() - started:.0f} s; verdict in {out / 'verdict.json'}")
    if code == EXIT_OK and failed.get("current"):
        print(f"error: {len(failed['current'])} benchmark(s) failed on {head}", file=sys.stderr)
        return EXIT_ERROR
    return code if code in (EXIT_OK, EXIT_REGRESSION) else EXIT_ERROR
