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
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple


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
    # the extras the project's own command installs with the wheel (``{wheel_file}[postgres]``)
    extras = re.search(r"\{wheel_file\}(\[[A-Za-z0-9_,.-]+\])", " ".join(conf.get("install_command") or ()))
    wheel = "{wheel_file}" + (extras.group(1) if extras else "")
    return {"install_command": [f"in-dir={{env_dir}} {binary} pip install -q {target} --reinstall-package {name} "
                                f"{wheel}"],
            "uninstall_command": [f"return-code=any {binary} pip uninstall -q {target} {name}"]}


def stream_lines(cmd: Sequence[str], env: Dict[str, str], cwd: Path, deadline: float,
                 on_line: Callable[[str], None]) -> Tuple[int, List[str], bool]:
    """Run `cmd` (an ``asv run``) with its stderr in its stdout, handing each output line to `on_line`
    as it comes; kill it once ``time.monotonic()`` passes `deadline`. (exit code, lines, timed out).
    `cmd` runs in a process group of its own: a deadline, an interrupt or a SIGTERM (see
    :func:`sigterm_raises`) kills it with every benchmark process it started, before returning or
    raising, so the caller's clean-up finds every process ended."""
    lines: List[str] = []
    timed_out = False
    with subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                          cwd=str(cwd), bufsize=1, start_new_session=True) as proc:
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line.rstrip("\n"))
                on_line(lines[-1])
                if time.monotonic() > deadline:
                    kill_group(proc)
                    timed_out = True
                    break
        except BaseException:
            kill_group(proc)
            raise
        proc.wait()
    return proc.returncode, lines, timed_out


def kill_group(proc: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    """End `proc` (an asv run leading its own process group: ``start_new_session``) and every process
    it started. asv runs each benchmark process in a group of its own and kills those groups itself on
    an interrupt, so it gets SIGINT first and `grace_seconds` to clean up; then whatever is left of its
    process tree and group gets SIGKILL."""
    tree = _descendants(proc.pid)
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        pass
    for pid in tree:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
    proc.wait()
    end = time.monotonic() + grace_seconds
    while any(pid_alive(pid) for pid in tree) and time.monotonic() < end:
        time.sleep(0.02)


def pid_alive(pid: int) -> bool:
    """True when process `pid` still runs, or when that cannot be told (another user's, a bad pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError, ValueError):
        return True
    return True


def _descendants(pid: int) -> List[int]:
    """The processes below `pid` now (children, their children, ...), from /proc; [] where there is none."""
    children: Dict[int, List[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        below = children.get(todo.pop(), [])
        found += below
        todo += below
    return found


class Terminated(BaseException):
    """The process received SIGTERM (see :func:`sigterm_raises`). Like KeyboardInterrupt, not an
    Exception: a handler that keeps one failing benchmark from stopping a run must not swallow it."""


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` in the main thread, so ``finally`` clean-ups
    run (killing asv's benchmark processes, removing the Redis keys and rows they left) as on Ctrl-C.
    Outside the main thread (where no handler can be set) the block runs unchanged."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated(f"terminated (signal {signum})")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


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


def ensure_asv_machine(conf_path: Path) -> None:
    """Run ``asv machine --yes`` once when this machine has no asv machine description yet (with the
    project's `conf_path`: asv refuses to describe a machine without a configuration to read)."""
    machine_file = Path.home() / ".asv-machine.json"  # where asv keeps it (~, as asv expands it)
    if machine_file.is_file():
        return
    subprocess.run([sys.executable, "-m", "asv", "machine", "--yes", "--config", str(conf_path)],
                   capture_output=True, text=True, timeout=120)


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


class _ErrorScan:
    """What :func:`parse_asv_errors` reads line by line: the failed benchmark whose output follows
    (asv prints a status line, then the parameters and the traceback of each failing combination)."""

    def __init__(self, names: Sequence[str]):
        self.names = names
        self.found: Dict[str, Dict[str, List[str]]] = {}  # {benchmark: {message: [parameters]}}
        self.current: Optional[str] = None
        self.params: Optional[str] = None

    def feed(self, raw: str) -> None:
        """Read one line of asv's output."""
        had_prefix = bool(_PREFIX.match(raw))
        line = _PREFIX.sub("", raw).strip()
        if not line:
            return
        if line.startswith("For parameters:"):
            self.params = line.split(":", 1)[1].strip()
        elif had_prefix:
            self._status(line)
        elif self.current is not None:
            self._error(line)

    def _status(self, line: str) -> None:
        """A status line: a benchmark that failed or timed out becomes the current one."""
        head = re.match(r"^(\S+)\s+(.*)$", line)
        if not head or "." not in head.group(1) or line.startswith(("Running", "For ")):
            return
        self.params = None
        status = head.group(2)
        if not ("failed" in status or "timed out" in status or "error" in status.lower()):
            self.current = None
            return
        self.current = resolve_asv_name(head.group(1), self.names) or head.group(1)
        messages = self.found.setdefault(self.current, {})
        if "timed out" in status:
            messages.setdefault("timed out", [])

    def _error(self, line: str) -> None:
        """A line of the current benchmark's output: its error (with the parameters it came with), or
        asv's note that its process died."""
        messages = self.found[self.current]
        error = ERROR_LINE.match(line)
        died = _DIED_LINE.match(line)
        if died:
            _note_exit_status(messages, int(died.group(1)))
        elif error and not line.startswith("File "):
            places = messages.setdefault(error.group(1).strip(), [])
            if self.params and self.params not in places:
                places.append(self.params)


def _error_summary(messages: Dict[str, List[str]]) -> str:
    """One benchmark's errors as one line: the first five, each with (up to five of) its parameters."""
    parts = []
    for message, places in list(messages.items())[:5]:
        where = "; ".join(f"({p})" for p in places[:5]) + (" ..." if len(places) > 5 else "")
        parts.append(f"{message} (params: {where})" if places else message)
    return "; ".join(parts) or "failed (see asv output)"


def parse_asv_errors(output: str, names: Sequence[str] = ()) -> Dict[str, str]:
    """{asv benchmark name: "ErrorType: message (params: ...)"} from ``asv run --show-stderr`` output;
    `names` resolves asv's truncated names."""
    scan = _ErrorScan(names)
    for raw in output.splitlines():
        scan.feed(raw)
    return {name: _error_summary(messages) for name, messages in scan.found.items()}


def _read_json(path: Path) -> Any:
    """The JSON in `path`, or None when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _replace_json(target: Path, data: Any) -> None:
    """Write `data` to `target` through a temporary file, so a reader never sees half of it."""
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, target)


def _merge_result_file(private_file: Path, target: Path) -> None:
    """Add the results of `private_file` to the store's file of the same commit and environment
    (replace it when asv's columns changed)."""
    new = json.loads(private_file.read_text(encoding="utf-8"))
    old = _read_json(target) if target.is_file() else None
    if old and old.get("result_columns") == new.get("result_columns"):
        old.setdefault("results", {}).update(new.get("results", {}))
        old.setdefault("durations", {}).update(new.get("durations", {}))
        new = old
    _replace_json(target, new)


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
        _merge_result_file(private_file, machine_dir / private_file.name)
        if (private_root / "benchmarks.json").is_file():
            merged = _read_json(store / "benchmarks.json") or {}
            merged.update(json.loads((private_root / "benchmarks.json").read_text(encoding="utf-8")))
            _replace_json(store / "benchmarks.json", merged)


STATUS_LINE = re.compile(r"^\[\s*[\d.]+%\]\s*[·.]+\s+(?!Running\b)(\S+)\s+(\S.*)?$")
