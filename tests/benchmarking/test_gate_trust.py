"""tools/gate_trust (run as scripts/gate_trust.py): the planted changes apply to a scratch clone of HEAD
and have the effect they claim (measured on the clone's own code, imported side by side with the
unpatched code), anchors fail loudly, --dry-run prints the commands of every mode, and the summary
counts detections and unrelated flags right (hand-made verdicts, and a fake gate driven end to end)."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from tools.gate_trust.cli import main
from tools.gate_trust.clone import add_worktree, make_clone, prepare_planted
from tools.gate_trust.planted import CHANGES, MARKER, PlantError, Rule, apply_change
from tools.gate_trust.shell import Shell, git
from tools.gate_trust.summary import ModeResult, progress_line, table, write_summary
from tools.gate_trust.trials import _check_commits
from tools.gate_trust.verdicts import AsvNames, judge_trial
from tools.gate_trust.verify import (AGENT, load_memory_package, measure_ltm, measure_recall, measure_slowdown,
                                     new_system, sample_states)

REPO = Path(__file__).resolve().parents[2]
SLOWDOWNS = ("store_single", "store_batch", "retrieve", "search")

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (REPO / ".git").exists(),
                                reason="needs git and the repository")

QUIET = Shell(echo=lambda line: None)


# ---- scratch clone, one branch and one worktree per planted change -----------------------------

@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A scratch clone of HEAD (what the harness makes)."""
    return make_clone(QUIET, REPO, tmp_path_factory.mktemp("gate_trust") / "clone")


@pytest.fixture(scope="module")
def planted(clone):
    """{change name: (planted commit, worktree of it)}, plus "base": (base commit, worktree)."""
    trees = clone.path.parent / "trees"
    out = {"base": (clone.base, add_worktree(clone, clone.base, trees / "base"))}
    for name, change in CHANGES.items():
        head = prepare_planted(QUIET, clone, change)
        out[name] = (head, add_worktree(clone, head, trees / name))
    return out


@pytest.fixture(scope="module")
def packages(planted):
    """{name: the `memory` package of that worktree, imported under its own alias}."""
    return {name: load_memory_package(f"gt_test_{name}", tree) for name, (_, tree) in planted.items()}


@pytest.mark.parametrize("name", list(CHANGES))
def test_each_change_is_one_append_only_commit(name, clone, planted):
    change = CHANGES[name]
    head, tree = planted[name]
    assert git(["rev-parse", f"{head}~1"], clone.path) == clone.base
    assert git(["diff", "--name-only", clone.base, head], clone.path).splitlines() == [change.file]
    before = git(["show", f"{clone.base}:{change.file}"], clone.path)
    after = (tree / change.file).read_text(encoding="utf-8")
    assert after.startswith(before.rstrip("\n") + "\n") and after.endswith(change.block)
    assert MARKER in after and MARKER not in before


@pytest.mark.parametrize("name", list(CHANGES))
def test_patched_package_is_the_worktree_code(name, planted, packages):
    pkg, (_, tree) = packages[name], planted[name]
    assert Path(pkg.__file__).resolve().is_relative_to(tree.resolve())
    system = sys.modules[f"gt_test_{name}.system"].AgentMemorySystem
    base = sys.modules["gt_test_base.system"].AgentMemorySystem
    method = {"store_single": "store_agent_state", "store_batch": "store_agent_states", "retrieve": "retrieve_state",
              "search": "retrieve_similar_states", "recall": "retrieve_similar_states"}.get(name)
    if method:  # the patched method is the planted wrapper around the real one; the base's is not
        assert getattr(system, method).__code__.co_name in ("slowed", "dropped")
        assert getattr(system, method).__name__ == method  # functools.wraps: asv sees the same names
        assert getattr(base, method).__code__.co_name not in ("slowed", "dropped")


def test_recall_drops_to_exactly_0_9(packages):
    result = measure_recall(packages["base"], packages["recall"], n=300, queries=20)
    assert result["base_recall"] == 1.0
    assert result["patched_recall"] == 0.9
    assert result["base_recall_k1"] == result["patched_recall_k1"] == 1.0  # k < 10 untouched


def test_recall_change_keeps_short_result_lists(packages):
    pkg = packages["recall"]
    with new_system(pkg, 20) as system:
        states = sample_states(8)
        system.store_agent_states(AGENT, states, list(range(8)))
        hits = system.retrieve_similar_states(AGENT, states[0], k=10, tier="stm")
        assert len(hits) == 8  # fewer than k+1 candidates: returned as they are


def test_ltm_records_are_25_percent_larger_and_read_back_equal(packages):
    result = measure_ltm(packages["base"], packages["ltm_record"], n=200)
    assert 1.23 <= result["ratio"] <= 1.27
    assert 1.23 <= result["moved_ratio"] <= 1.27  # the IM -> LTM transition path too
    assert result["moved_count"][0] == result["moved_count"][1] > 0
    assert result["im_ratio"] == 1.0  # IM's (uncompressed) codec untouched
    assert result["contents_equal"]


@pytest.mark.parametrize("name", SLOWDOWNS)
def test_slowdown_makes_the_call_measurably_slower(name, packages):
    # the fastest chunk of each side: load only adds time, while it moves the median of the pairs'
    # ratios either way (1.02 at load 5 in a CI run, 1.40-1.64 beside 3 busy processes, 2026-12-04)
    result = measure_slowdown(name, packages["base"], packages[name], n=300, pairs=60)
    assert result["min_ratio"] > 1.1, result


def test_slowdowns_leave_results_alone(packages):
    states = sample_states(50)
    out = []
    for pkg in (packages["base"], packages["store_single"], packages["search"]):
        with new_system(pkg, 100) as system:
            ids = [system.store_agent_state(AGENT, s, i) for i, s in enumerate(states)]
            hits = system.retrieve_similar_states(AGENT, states[3], k=5, tier="stm")
            out.append(([system.retrieve_state(m)["content"] for m in ids], [h["content"] for h in hits]))
    assert out[0] == out[1] == out[2]


# ---- anchors ------------------------------------------------------------------------------------

def _tree_with_system(tmp_path: Path, text: str) -> Path:
    """A fake checkout whose memory/system.py is `text`."""
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "system.py").write_text(text, encoding="utf-8")
    return tmp_path


def test_missing_anchor_raises_a_clear_error(tmp_path):
    source = (REPO / "memory" / "system.py").read_text(encoding="utf-8")
    tree = _tree_with_system(tmp_path, source.replace("    def store_agent_state(self,", "    def store_one(self,"))
    with pytest.raises(PlantError, match=r"store_single.*anchor 'def store_agent_state\(self,' occurs 0 times "
                                            r"in memory/system\.py"):
        apply_change(tree, CHANGES["store_single"])
    assert "gate_trust" not in (tree / "memory" / "system.py").read_text(encoding="utf-8")  # nothing written


def test_ambiguous_or_repeated_plant_raises(tmp_path):
    source = (REPO / "memory" / "system.py").read_text(encoding="utf-8")
    tree = _tree_with_system(tmp_path, source + "\nclass AgentMemorySystem:\n    pass\n")
    with pytest.raises(PlantError, match="occurs 2 times"):
        apply_change(tree, CHANGES["retrieve"])
    (tree / "memory" / "system.py").write_text(source, encoding="utf-8")
    apply_change(tree, CHANGES["retrieve"])
    with pytest.raises(PlantError, match="already holds a planted change"):
        apply_change(tree, CHANGES["search"])


def test_missing_file_raises(tmp_path):
    with pytest.raises(PlantError, match="memory/embeddings/codec.py not found"):
        apply_change(tmp_path, CHANGES["ltm_record"])


# ---- --dry-run ------------------------------------------------------------------------------------

def _dry(capsys, *argv: str) -> list:
    """The lines `main(argv + --dry-run)` prints; it must exit 0."""
    assert main([*argv, "--dry-run"]) == 0
    return capsys.readouterr().out.splitlines()


def test_dry_run_aa_sequential(capsys, tmp_path):
    work = tmp_path / "w"
    lines = _dry(capsys, "aa-sequential", "--trials", "2", "--work-dir", str(work), "--category", "storage")
    runs = [ln for ln in lines if "memory.benchmarking.cli run" in ln]
    compares = [ln for ln in lines if "memory.benchmarking.cli compare" in ln]
    assert len(runs) == 3 and len(compares) == 2
    assert all(f"cd {REPO} &&" in ln and "--category storage --profile default" in ln for ln in runs)
    assert [ln.split("--output-dir ")[1].rsplit("/", 1)[1].rstrip(")") for ln in runs] == ["run_00", "run_01", "run_02"]
    assert "run_02 --baseline-dir" in compares[1] and "run_01 --threshold 0.1 --json" in compares[1]
    assert compares[1].rstrip(")").endswith("verdict_02.json")
    assert not work.exists()  # a dry run creates nothing


def test_dry_run_aa_continuous(capsys, tmp_path):
    lines = _dry(capsys, "aa-continuous", "--trials", "3", "--work-dir", str(tmp_path), "--no-confirm")
    assert any(ln.startswith("git clone --quiet --local --no-hardlinks") for ln in lines)
    assert any("commit" in ln and "--allow-empty" in ln for ln in lines)
    runs = [ln for ln in lines if "memory.benchmarking.cli continuous" in ln]
    assert len(runs) == 3
    clone = tmp_path / "clone"
    for i, ln in enumerate(runs, 1):
        assert ln.startswith(f"(cd {clone} && AGENTMEMORY_ASV_CONFIG={clone}/asv.conf.json ")
        assert " -P -m memory.benchmarking.cli continuous 'HEAD~1' HEAD " in ln
        assert "--threshold 0.1 --profile default --no-confirm --output-dir" in ln and f"trial_{i:02d}" in ln


def test_dry_run_passes_every_bench(capsys, tmp_path):
    lines = _dry(capsys, "aa-continuous", "--trials", "1", "--work-dir", str(tmp_path),
                 "--bench", "^storage\\.MemoryEfficiency", "--bench", "^compression\\.CompressionRatio")
    (run,) = [ln for ln in lines if "memory.benchmarking.cli continuous" in ln]
    assert "--bench '^storage\\.MemoryEfficiency' --bench '^compression\\.CompressionRatio'" in run


def test_dry_run_planted(capsys, tmp_path):
    lines = _dry(capsys, "planted", "--change", "store_single", "--change", "ltm_record", "--trials", "1",
                 "--work-dir", str(tmp_path), "--related-only")
    text = "\n".join(lines)
    base = git(["rev-parse", "HEAD"], REPO)
    for name, file in (("store_single", "memory/system.py"), ("ltm_record", "memory/embeddings/codec.py")):
        assert f"checkout --quiet --force -B gate-trust/{name} {base}" in text
        assert f"# append the planted block of '{name}' to {file}" in text
        assert f"git add -- {file}" in text
    runs = [ln for ln in lines if "cli continuous" in ln]
    assert len(runs) == 2
    assert "--bench '^(?:storage\\.WriteThroughput\\.time_store_loop|" in runs[0]
    assert "compression\\.TierToTierRatio\\.track_size_ratio)(\\(.*\\))?$'" in runs[1]


def test_dry_run_all_covers_every_mode(capsys, tmp_path):
    lines = _dry(capsys, "all", "--trials", "1", "--work-dir", str(tmp_path))
    headers = [ln for ln in lines if ln.startswith("# ---- ")]
    assert headers == ["# ---- aa-sequential: 1 trial(s)", "# ---- aa-continuous: 1 trial(s)"] + \
        [f"# ---- planted {name}: 1 trial(s)" for name in CHANGES]
    assert sum("cli continuous" in ln for ln in lines) == 1 + len(CHANGES)
    assert sum(ln.startswith("git clone") for ln in lines) == 1  # one clone for the whole run


def test_bad_arguments_are_one_line_errors(capsys):
    assert main(["aa-continuous", "--trials", "0", "--dry-run"]) == 1
    assert "--trials must be at least 1" in capsys.readouterr().err
    assert main(["planted", "--change", "recall", "--related-only", "--bench", "x", "--dry-run"]) == 1
    assert "exclude each other" in capsys.readouterr().err


# ---- summary logic on hand-made verdicts ---------------------------------------------------------

def _m(benchmark, metric, status, path="", asv=None, category="storage", **extra):
    """One verdict measurement as the gate writes it."""
    m = {"category": category, "benchmark": benchmark, "path": path, "metric": metric, "kind": "timing",
         "status": status, "change": 0.25, "p_value": 0.002, "baseline": 1.0, "current": 1.25,
         "n_baseline": 6, "n_current": 6, "confirmed": True, **extra}
    if asv:
        m["asv_name"] = asv
    return m


def _verdict(*measurements, exit_code=None, **extra):
    regressions = [m for m in measurements if m["status"] == "regression"]
    code = exit_code if exit_code is not None else (2 if regressions else 0)
    return {"exit_code": code, "threshold": 0.1, "alpha": 0.01, "counts": {"regression": len(regressions)},
            "measurements": list(measurements), "regressions": regressions, **extra}


NAMES = AsvNames()
NAMES.add_document({"category": "storage", "benchmark": "write_throughput", "metadata": {
    "asv_benchmarks": ["storage.WriteThroughput.time_store_loop", "storage.WriteThroughput.time_store_batch"],
    "metric_sources": {"throughput_ops_per_second": "storage.WriteThroughput.time_store_loop",
                       "store_batch_throughput_ops_per_second": "storage.WriteThroughput.time_store_batch"}}})
NAMES.add_document({"category": "storage", "benchmark": "read_latency",
                    "metadata": {"asv_benchmarks": ["storage.ReadLatency.time_read"]}})


def test_related_regression_is_a_detection():
    change = CHANGES["store_single"]
    verdict = _verdict(_m("write_throughput", "throughput_ops_per_second", "regression", "complexity_1/batch_100"),
                       _m("write_throughput", "store_batch_throughput_ops_per_second", "regression"),
                       _m("read_latency", "latency_seconds", "noise"),
                       _m("search_recall", "recall", "unchanged", category="retrieval"))
    trial = judge_trial(1, 2, 300.0, verdict, change, NAMES)
    assert trial.detected and trial.error is None
    assert [m["asv"] for m in trial.of(True)] == ["storage.WriteThroughput.time_store_loop"]
    assert [m["asv"] for m in trial.of(False)] == ["storage.WriteThroughput.time_store_batch"]  # unrelated flag


def test_a_trial_keeps_what_the_confirmation_screened_and_cost():
    verdict = _verdict(_m("write_throughput", "throughput_ops_per_second", "regression"),
                       _m("read_latency", "latency_seconds", "noise", confirmed=False),
                       _m("read_latency", "latency_seconds", "unchanged", confirmed=None),
                       confirmation=True, wall_seconds=900.5, confirm_seconds=300.25)
    trial = judge_trial(1, 2, 901.0, verdict, CHANGES["store_single"], NAMES).to_json()
    assert (trial["screened"], trial["gate_wall_seconds"], trial["gate_confirm_seconds"]) == (2, 900.5, 300.25)
    no_pass = judge_trial(1, 0, 1.0, _verdict(_m("read_latency", "latency_seconds", "noise")), None, NAMES)
    assert no_pass.screened is None and no_pass.confirm_seconds is None  # a sequential compare: no pass


def test_unrelated_or_missing_regression_is_no_detection():
    change = CHANGES["store_batch"]
    only_unrelated = _verdict(_m("write_throughput", "throughput_ops_per_second", "regression"))
    trial = judge_trial(1, 2, 1.0, only_unrelated, change, NAMES)
    assert not trial.detected and len(trial.of(False, "regression")) == 1
    improvement = _verdict(_m("write_throughput", "store_batch_throughput_ops_per_second", "improvement"))
    trial = judge_trial(2, 0, 1.0, improvement, change, NAMES)
    assert not trial.detected and trial.of(True, "improvement") and not trial.of(False)


def test_parameter_rules_split_one_benchmark():
    change = CHANGES["retrieve"]
    verdict = _verdict(_m("read_latency", "latency_seconds", "regression", "tier_stm/batch_1"),
                       _m("read_latency", "latency_seconds", "regression", "tier_stm/batch_10"))
    trial = judge_trial(1, 2, 1.0, verdict, change, NAMES)
    assert [m["path"] for m in trial.of(True)] == ["tier_stm/batch_1"]  # retrieve_state
    assert [m["path"] for m in trial.of(False)] == ["tier_stm/batch_10"]  # retrieve_states: another path
    rule = Rule(r"x\.Y\.time_z", (("tier", "ltm"),))
    assert rule.matches("x.Y.time_z", "complexity_1") and not rule.matches("x.Y.time_z", "tier_im")


def test_unresolved_asv_name_never_counts_as_related():
    change = CHANGES["store_single"]  # write_throughput has two asv benchmarks, only one related
    verdict = _verdict(_m("write_throughput", "unknown_metric_seconds", "regression"))
    trial = judge_trial(1, 2, 1.0, verdict, change, NAMES)
    assert not trial.detected and trial.of(False)[0]["asv"] == ["storage.WriteThroughput.time_store_loop",
                                                               "storage.WriteThroughput.time_store_batch"]


def test_errors_missing_verdict_and_wrong_commits():
    trial = judge_trial(1, 1, 5.0, None, None, NAMES)
    assert trial.error == "the gate exited 1" and not trial.detected
    trial = judge_trial(1, 0, 5.0, None, None, NAMES)
    assert trial.error == "no verdict JSON was written"
    verdict = _verdict(base="aaaa", head="bbbb")
    trial = judge_trial(1, 0, 5.0, verdict, None, NAMES)
    _check_commits(trial, verdict, {"base": "aaaa1234", "head": "cccc5678"})
    assert trial.error == "the verdict's head is bbbb, expected cccc5678"


def test_mode_summary_counts_and_targets():
    change = CHANGES["store_single"]
    related = _m("write_throughput", "throughput_ops_per_second", "regression")
    unrelated = _m("read_latency", "latency_seconds", "regression")
    result = ModeResult("planted", change)
    verdicts = [_verdict(related)] * 8 + [_verdict(related, unrelated), _verdict()]
    for i, v in enumerate(verdicts, 1):
        result.trials.append(judge_trial(i, v["exit_code"], 100.0 + i, v, change, NAMES))
    s = result.summary()
    assert (s["trials"], s["exit_2"], s["detected"], s["unrelated_flag_trials"], s["errors"]) == (10, 9, 9, 1, 0)
    assert s["median_seconds"] == 105.5
    assert s["related_flagged_per_benchmark"] == {"storage.WriteThroughput.time_store_loop": 9}
    assert s["unrelated_flagged_per_benchmark"] == {"storage.ReadLatency.time_read": 1}
    assert s["target"] == "detected >= 9/10, nothing unrelated flagged" and s["target_met"] is False
    result.trials[8] = judge_trial(9, 2, 100.0, _verdict(related), change, NAMES)
    assert result.summary()["target_met"] is True
    recall = ModeResult("planted", CHANGES["recall"], trials=result.trials)
    assert recall.summary()["target"].startswith("detected >= 10/10")


def test_aa_summary_counts_false_alarms(tmp_path):
    result = ModeResult("aa-continuous", None)
    flag = _m("write_throughput", "throughput_ops_per_second", "regression")
    for i, v in enumerate([_verdict(), _verdict(flag), _verdict()], 1):
        result.trials.append(judge_trial(i, v["exit_code"], 50.0, v, None, NAMES))
    s = result.summary()
    assert (s["exit_2"], s["detected"], s["unrelated_flag_trials"], s["target_met"]) == (1, None, 1, False)
    line = progress_line(result, result.trials[1], 3)
    assert line == "[aa-continuous] trial 2/3: exit 2, flagged 1 (related 0, unrelated 1), 50.0 s"
    path = tmp_path / "summary.json"
    write_summary(path, {"trials": 3}, [result])
    doc = json.loads(path.read_text())
    assert doc["modes"][0]["exit_2"] == 1 and len(doc["modes"][0]["trial_details"]) == 3
    assert "aa-continuous" in table([result]) and " NO" in table([result])


# ---- end to end with a fake gate ---------------------------------------------------------------

FAKE_CLI = r'''
import json, subprocess, sys
from pathlib import Path
args = sys.argv[1:]
def opt(name):
    return args[args.index(name) + 1]
def git(*a):
    return subprocess.run(["git", *a], capture_output=True, text=True).stdout.strip()
m = {"category": "storage", "benchmark": "write_throughput", "path": "complexity_1/batch_100",
     "metric": "throughput_ops_per_second", "kind": "timing", "status": "regression",
     "asv_name": "storage.WriteThroughput.time_store_loop"}
if args[0] == "run":
    out = Path(opt("--output-dir")); out.mkdir(parents=True)
    (out / "doc.json").write_text(json.dumps({"category": "storage", "benchmark": "write_throughput",
                                              "results": {}, "metadata": {}}))
    sys.exit(0)
if args[0] == "compare":
    Path(opt("--json")).write_text(json.dumps({"exit_code": 0, "counts": {}, "measurements": []}))
    sys.exit(0)
planted = bool(git("diff", "--name-only", args[1], args[2]))
out = Path(opt("--output-dir")); out.mkdir(parents=True)
verdict = {"exit_code": 2 if planted else 0, "counts": {}, "measurements": [m] if planted else [],
           "base": git("rev-parse", args[1]), "head": git("rev-parse", args[2])}
(out / "verdict.json").write_text(json.dumps(verdict))
sys.exit(verdict["exit_code"])
'''


@pytest.fixture
def fake_gate(tmp_path, monkeypatch):
    """cli_command pointed at a fake CLI: continuous exits 2 with a related regression when the two
    commits differ in content, 0 when they are the same tree."""
    script = tmp_path / "fake_cli.py"
    script.write_text(textwrap.dedent(FAKE_CLI), encoding="utf-8")
    monkeypatch.setattr("tools.gate_trust.trials.cli_command",  # where the modes look it up
                        lambda *args, safe_path=False: [sys.executable, str(script), *args])
    return script


def _summary(work: Path, mode: str) -> dict:
    (path,) = work.glob(f"gate_trust_{mode}_*.json")
    return json.loads(path.read_text())["modes"]


def test_planted_and_aa_modes_end_to_end(fake_gate, tmp_path, capsys):
    work = tmp_path / "work"
    assert main(["planted", "--change", "store_single", "--trials", "2", "--work-dir", str(work)]) == 0
    out = capsys.readouterr().out
    assert "[planted store_single] trial 2/2: exit 2, flagged 1 (related 1, unrelated 0), detected" in out
    (mode,) = _summary(work, "planted")
    assert (mode["detected"], mode["exit_2"], mode["target_met"]) == (2, 2, True)
    assert mode["commits"]["head"] != mode["commits"]["base"]
    assert not (work / "clone").exists()  # removed without --keep
    assert main(["aa-continuous", "--trials", "2", "--work-dir", str(work), "--keep"]) == 0
    (mode,) = _summary(work, "aa-continuous")
    assert (mode["exit_2"], mode["errors"], mode["target_met"]) == (0, 0, True)
    assert (work / "clone").is_dir()
    assert main(["aa-sequential", "--trials", "2", "--work-dir", str(work)]) == 0
    (mode,) = _summary(work, "aa-sequential")
    assert (mode["trials"], mode["exit_2"], mode["target_met"]) == (2, 0, True)


def test_store_batch_counts_the_in_memory_single_reads_its_set_up_slows_as_related():
    """Measured: after the planted spin in ReadLatency's per-sample set-up, batch-1 reads from in-memory
    STM and IM run slower; LTM, Redis and larger batches do not (tools/gate_trust/planted.py)."""
    change = CHANGES["store_batch"]
    read = "storage.ReadLatency.time_read"
    assert change.is_related(read, "backend_memory/tier_im/batch_1")
    assert change.is_related(read, "backend_memory/tier_stm/batch_1")
    for path in ("backend_memory/tier_ltm/batch_1", "backend_redis/tier_im/batch_1",
                 "backend_memory/tier_im/batch_10", "backend_memory/tier_stm/batch_100"):
        assert not change.is_related(read, path), path
    assert not change.is_related("storage.TierWriteThroughput.time_store_loop", "backend_redis/tier_im/batch_1000")
