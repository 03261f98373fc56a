"""Running asv as a subprocess: the commit to attribute results to, asv's machine file, reading
asv's output (errors, progress lines) and merging private result files into the project's store.
Shared by the runner (``cli run``) and ``cli continuous``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence


class AsvRunError(Exception):
    """asv could not be run, or a scratch repository could not be made."""


def commit_hash(repo: Path, name: str = "HEAD") -> Optional[str]:
    """The full hash of commit `name` (a branch, tag or hash) in `repo`, or None when git does not
    know it (or cannot run)."""
    try:
        proc = subprocess.run(["git", "-C", str(repo), "rev-parse", "--verify", "-q", f"{name}^{{commit}}"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = proc.stdout.strip()
    return found if proc.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", found) else None


def uv_binary() -> Optional[str]:
    """The path of the ``uv`` executable (the ``uv`` package of the bench extra, else on PATH), or None."""
    try:
        import uv  # type: ignore[import-not-found]

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError, AttributeError):
        return shutil.which("uv")


def distribution_name(conf: Dict[str, Any]) -> str:
    """The installed distribution asv swaps between commits: the name the project's
    ``uninstall_command`` removes (``pip uninstall -y NAME``), else the conf's ``project``."""
    for command in conf.get("uninstall_command") or ():
        words = str(command).split()
        if "uninstall" in words and not words[-1].startswith("-"):
            return words[-1]
    return str(conf.get("project") or "")


def fast_install_commands(conf: Dict[str, Any]) -> Dict[str, List[str]]:
    """asv ``install_command``/``uninstall_command`` that install the built wheel with uv instead of pip
    (~0.2 s instead of ~4 s a switch). ``continuous`` switches commits in one virtualenv at every
    interleaved round: 4 times in the first pass, 12 in the confirmation. {} without uv (pip then)."""
    binary, name = uv_binary(), distribution_name(conf)
    if not binary or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        return {}
    target = "--python {env_dir}/bin/python"
    return {"install_command": [f"in-dir={{env_dir}} {binary} pip install -q {target} --reinstall-package {name} "
                                "{wheel_file}"],
            "uninstall_command": [f"return-code=any {binary} pip uninstall -q {target} {name}"]}


def git_head(repo: Path) -> Optional[str]:
    """The hash of HEAD in `repo`, or None in a repository without commits."""
    return commit_hash(repo, "HEAD")


def scratch_repo(folder: Path) -> str:
    """A one-commit git repository for asv to attribute results to when the project has no commit."""
    folder.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@localhost",
               GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@localhost")
    subprocess.run(["git", "init", "-q", "-b", "main", str(folder)], check=True, capture_output=True, env=env)
    subprocess.run(["git", "-C", str(folder), "commit", "-q", "--allow-empty", "-m", "uncommitted work tree"],
                   check=True, capture_output=True, env=env)
    head = git_head(folder)
    if not head:
        raise AsvRunError("cannot create a scratch git repository for asv")
    return head


def ensure_asv_machine() -> None:
    """Run ``asv machine --yes`` once when this machine has no asv machine description yet."""
    machine_file = Path(os.environ.get("ASV_MACHINE_FILE", Path.home() / ".asv-machine.json"))
    if machine_file.is_file():
        return
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes"], capture_output=True, text=True,
                   timeout=120)


ERROR_LINE = re.compile(r"^\s*([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Failure)\b:?.*)$")
# asv's own line when a benchmark process died without a Python traceback (a signal, os._exit, OOM kill)
_DIED_LINE = re.compile(r"^\s*asv: (?:benchmark|setup_cache) failed \(exit status (-?\d+)\)")


def _died_message(status: int) -> str:
    """A readable cause for a benchmark process that exited with `status` (negative: killed by a signal)."""
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        hint = " (out of memory?)" if name == "SIGKILL" else ""
        return f"benchmark process killed by {name}{hint}"
    return f"benchmark process exited with status {status} without a Python error"


def _note_exit_status(messages: Dict[str, List[str]], status: int) -> None:
    """Record asv's "benchmark failed (exit status N)" line among one benchmark's `messages`. asv
    prints it once per benchmark, after the last parameter block, so no parameters go with it; an
    exit status 1 after a Python error is that error's and adds nothing (a signal is always news)."""
    python_errors = [m for m in messages if m != "timed out" and not m.startswith("benchmark process ")]
    if status > 0 and python_errors:
        return
    messages.setdefault(_died_message(status), [])


def resolve_asv_name(shown: str, names: Sequence[str]) -> Optional[str]:
    """asv truncates long names in its output ("...ion.Class.track_x"): map back to a full name."""
    if shown in names:
        return shown
    if shown.startswith("..."):
        matches = [n for n in names if n.endswith(shown[3:])]
        if len(matches) == 1:
            return matches[0]
    return None


_PREFIX = re.compile(r"^\[\s*[\d.]+%\]\s*[·.]+\s*")


def parse_asv_errors(output: str, names: Sequence[str] = ()) -> Dict[str, str]:
    """{asv benchmark name: "ErrorType: message (params: ...)"} from ``asv run --show-stderr`` output;
    `names` resolves asv's truncated names."""
    found: Dict[str, Dict[str, List[str]]] = {}
    current: Optional[str] = None
    params: Optional[str] = None
    for raw in output.splitlines():
        had_prefix = bool(_PREFIX.match(raw))
        line = _PREFIX.sub("", raw).strip()
        if not line:
            continue
        if line.startswith("For parameters:"):
            params = line.split(":", 1)[1].strip()
            continue
        if had_prefix:
            head = re.match(r"^(\S+)\s+(.*)$", line)
            if head and ("." in head.group(1)) and not line.startswith(("Running", "For ")):
                name = resolve_asv_name(head.group(1), names) or head.group(1)
                status = head.group(2)
                if "failed" in status or "timed out" in status or "error" in status.lower():
                    current = name
                    found.setdefault(current, {})
                    if "timed out" in status:
                        found[current].setdefault("timed out", [])
                else:
                    current = None
                params = None
            continue
        if current is None:
            continue
        error = ERROR_LINE.match(line)
        died = _DIED_LINE.match(line)
        if died:
            _note_exit_status(found[current], int(died.group(1)))
        elif error and not line.startswith("File "):
            places = found[current].setdefault(error.group(1).strip(), [])
            if params and params not in places:
                places.append(params)
    out = {}
    for name, messages in found.items():
        parts = []
        for message, places in list(messages.items())[:5]:
            where = "; ".join(f"({p})" for p in places[:5]) + (" ..." if len(places) > 5 else "")
            parts.append(f"{message} (params: {where})" if places else message)
        out[name] = "; ".join(parts) or "failed (see asv output)"
    return out


def merge_into_store(private_file: Path, private_root: Path, store: Path) -> None:
    """Merge one private asv result file (and benchmarks.json, machine.json) into the asv store."""
    import fcntl

    store.mkdir(parents=True, exist_ok=True)
    with open(store / ".agentmemory-merge.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        machine_dir = store / private_file.parent.name
        machine_dir.mkdir(parents=True, exist_ok=True)
        machine_json = private_file.parent / "machine.json"
        if machine_json.is_file() and not (machine_dir / "machine.json").is_file():
            shutil.copy2(machine_json, machine_dir / "machine.json")
        target = machine_dir / private_file.name
        new = json.loads(private_file.read_text(encoding="utf-8"))
        if target.is_file():
            try:
                old = json.loads(target.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                old = None
            if old and old.get("result_columns") == new.get("result_columns"):
                old.setdefault("results", {}).update(new.get("results", {}))
                old.setdefault("durations", {}).update(new.get("durations", {}))
                new = old
        tmp = target.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(new, indent=1), encoding="utf-8")
        os.replace(tmp, target)
        bench_new = private_root / "benchmarks.json"
        if bench_new.is_file():
            merged: Dict[str, Any] = {}
            bench_old = store / "benchmarks.json"
            if bench_old.is_file():
                with contextlib.suppress(OSError, json.JSONDecodeError):
                    merged = json.loads(bench_old.read_text(encoding="utf-8"))
            merged.update(json.loads(bench_new.read_text(encoding="utf-8")))
            tmp = store / "benchmarks.json.tmp"
            tmp.write_text(json.dumps(merged, indent=1), encoding="utf-8")
            os.replace(tmp, bench_old)


STATUS_LINE = re.compile(r"^\[\s*[\d.]+%\]\s*[·.]+\s+(?!Running\b)(\S+)\s+(\S.*)?$")
