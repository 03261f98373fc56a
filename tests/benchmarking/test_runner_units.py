"""Fast checks of the runner's pieces that need no asv run: the group task crosses to worker processes,
one "unknown category" wording for every caller, a failed group's error documents, asv's output stream."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import time
from pathlib import Path

import pytest

from memory.benchmarking.asvrun import stream_lines
from memory.benchmarking.config import BenchmarkConfig, require_category
from memory.benchmarking.continuous import ContinuousError, selection_regexes
from memory.benchmarking.documents import find_documents, new_document, write_new_document
from memory.benchmarking.naming import extend_new
from memory.benchmarking.runner import BenchSpec, GroupTask, RunnerError, execute_group
from memory.errors import ConfigError


def _task(tmp_path, **changes) -> GroupTask:
    bench = BenchSpec("storage", "write_throughput", ("storage.WriteThroughput.time_store_batch",),
                      [{"name": "storage.WriteThroughput.time_store_batch", "type": "time"}],
                      {"batch_sizes": [10]})
    task = GroupTask(conf_path=str(tmp_path / "missing" / "asv.conf.json"),
                     config=BenchmarkConfig.for_profile("quick").to_dict(), output_dir=str(tmp_path / "res"),
                     benchmarks=(bench,), extra_metadata={"profile": "quick"})
    return dataclasses.replace(task, **changes)


def test_group_task_pickles_and_is_frozen(tmp_path):
    task = _task(tmp_path, private_home=True, namespace_log=str(tmp_path / "ns.log"))
    again = pickle.loads(pickle.dumps(task))  # what a spawned worker process receives
    assert again == task and again.benchmarks[0].key == "storage/write_throughput"
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.output_dir = "elsewhere"  # type: ignore[misc]


def test_a_group_that_cannot_start_writes_one_error_document_per_benchmark(tmp_path):
    outcomes = execute_group(_task(tmp_path))  # no asv.conf.json there: fails before any asv run
    assert [o["key"] for o in outcomes] == ["storage/write_throughput"]
    assert outcomes[0]["error"].startswith("ConfigError: no asv.conf.json found")
    found = find_documents(tmp_path / "res")
    assert [path for path, _ in found] == [outcomes[0]["path"]]
    doc = found[0][1]
    assert doc["error"] == outcomes[0]["error"] and doc["results"] == {}
    assert doc["metadata"] == {"profile": "quick", "params": {"batch_sizes": [10]}}


def test_a_group_whose_output_dir_is_unusable_still_reports_each_benchmark(tmp_path):
    (tmp_path / "res").write_text("a file where the output folder should be")
    outcomes = execute_group(_task(tmp_path))
    assert outcomes[0]["path"] is None and outcomes[0]["error"].startswith("ConfigError")


@pytest.mark.parametrize("call, error", [
    (lambda: require_category("nope", ["retrieval", "storage"]), ConfigError),
    (lambda: require_category("nope", ["retrieval", "storage"], RunnerError), RunnerError),
    (lambda: selection_regexes(["storage,nope"], None, [{"name": "retrieval.A.time_x"},
                                                        {"name": "storage.B.time_y"}]), ContinuousError),
])
def test_unknown_category_is_one_message_in_each_callers_error(call, error):
    with pytest.raises(error) as raised:
        call()
    assert str(raised.value) == "unknown category 'nope'; valid: retrieval, storage"


def test_unknown_category_among_none_says_none():
    with pytest.raises(RunnerError, match=r"^unknown category 'storage'; valid: none$"):
        require_category("storage", [], RunnerError)
    assert require_category("storage", ["storage"]) == "storage"
    with pytest.raises(ConfigError, match="valid: storage, compression"):
        BenchmarkConfig().category("nope")


def test_write_new_document_names_the_file_from_the_document(tmp_path):
    doc = new_document("write_throughput", "storage", {}, stamp="20250101_000000", error="boom")
    first, second = write_new_document(tmp_path, doc), write_new_document(tmp_path, doc)
    assert first.endswith("storage/write_throughput_20250101_000000.json")
    assert second.endswith("storage/write_throughput_20250101_000000_2.json")
    assert [d["error"] for _, d in find_documents(tmp_path)] == ["boom", "boom"]


def test_stream_lines_hands_over_each_line_and_kills_at_the_deadline(tmp_path):
    seen = []
    code, lines, timed_out = stream_lines([sys.executable, "-c", "print('a'); print('b')"], {}, tmp_path,
                                          time.monotonic() + 60, seen.append)
    assert (code, lines, timed_out, seen) == (0, ["a", "b"], False, ["a", "b"])
    script = "import time\nfor i in range(100):\n    print(i, flush=True)\n    time.sleep(0.05)"
    started = time.monotonic()
    code, lines, timed_out = stream_lines([sys.executable, "-c", script], {}, tmp_path,
                                          time.monotonic() + 0.5, lambda line: None)
    assert timed_out and code != 0 and lines[0] == "0" and len(lines) < 100
    assert time.monotonic() - started < 4


def test_extend_new_keeps_first_seen_order_of_unhashable_values():
    assert extend_new([1], [[2], 1, [2], 3]) == [1, [2], 3]


def test_a_new_machine_is_described_whatever_the_working_directory(tmp_path, monkeypatch):
    """asv refuses `asv machine --yes` without a configuration to read; on a fresh machine run from
    a folder without asv.conf.json, continuous failed with "No information stored about machine"."""
    from memory.benchmarking.asvrun import ensure_asv_machine

    monkeypatch.setenv("HOME", str(tmp_path))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    ensure_asv_machine(Path(__file__).resolve().parents[2] / "asv.conf.json")
    described = json.loads((tmp_path / ".asv-machine.json").read_text())
    assert described and all("machine" in entry for entry in described.values() if isinstance(entry, dict))


def test_continuous_over_the_whole_suite_leaves_the_opt_in_category_out():
    """`continuous` without --category must not grow by the implementations category (other stores:
    run only when named), or the whole-suite gate would measure Chroma on every commit."""
    import re

    infos = [{"name": "retrieval.A.time_x"}, {"name": "storage.B.time_y"}, {"name": "implementations.C.time_z"}]
    regexes = selection_regexes(None, None, infos)
    chosen = {i["name"] for i in infos if any(re.search(r, i["name"]) for r in regexes)}
    assert chosen == {"retrieval.A.time_x", "storage.B.time_y"}
    named = selection_regexes(["implementations"], None, infos)
    assert [i["name"] for i in infos if any(re.search(r, i["name"]) for r in named)] == ["implementations.C.time_z"]
