"""Running commands: the Shell that runs (or, in a dry run, prints as copy-pasteable lines) every
command, each run's output in a log file; git helpers that raise HarnessError with git's message;
the gate's command line (``python [-P] -m memory.benchmarking.cli``) and its exit codes; and the
tail of a log for an error message."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Mapping, Optional, Sequence, Tuple

CLI_MODULE = "memory.benchmarking.cli"
EXIT_OK, EXIT_ERROR, EXIT_REGRESSION = 0, 1, 2


class HarnessError(RuntimeError):
    """The harness cannot go on (git failed, the CLI would import the wrong code, bad arguments)."""


@dataclass
class Shell:
    """Runs (or, dry, prints) commands; every run's output goes to a log file."""

    dry_run: bool = False
    echo: Callable[[str], None] = print

    def show(self, cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None) -> str:
        """The command as a copy-pasteable line: ``(cd D && VAR=v cmd ...)``."""
        line = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        line = (line + " " if line else "") + shlex.join([str(c) for c in cmd])
        return f"(cd {shlex.quote(str(cwd))} && {line})" if cwd else line

    def note(self, text: str) -> None:
        """A comment line in a dry run (what the harness would do that is not a command)."""
        if self.dry_run:
            self.echo(f"# {text}")

    def run(self, cmd: Sequence[str], cwd: Optional[Path] = None, env: Optional[Mapping[str, str]] = None,
            log: Optional[Path] = None) -> Tuple[int, float]:
        """(exit code, wall seconds) of `cmd` with `env` added to the environment; dry: print, (0, 0.0)."""
        if self.dry_run:
            self.echo(self.show(cmd, cwd, env))
            return EXIT_OK, 0.0
        full_env = {**os.environ, **(env or {})}
        start = time.monotonic()
        if log is None:
            code = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env).returncode
        else:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "w", encoding="utf-8") as out:
                out.write(f"$ {self.show(cmd, cwd, env)}\n")
                out.flush()
                code = subprocess.run([str(c) for c in cmd], cwd=cwd, env=full_env, stdout=out,
                                      stderr=subprocess.STDOUT).returncode
        return code, time.monotonic() - start


def git(args: Sequence[str], cwd: Path) -> str:
    """Output of a git command in `cwd` (stripped); HarnessError with git's message when it fails."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise HarnessError(f"git {' '.join(args)} failed in {cwd}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc.stdout.strip()


def git_step(shell: Shell, args: Sequence[str], cwd: Path) -> str:
    """git for a setup step: printed in a dry run, run (output returned) otherwise."""
    if shell.dry_run:
        shell.echo(shell.show(["git", *args], cwd))
        return ""
    return git(args, cwd)


def cli_command(*args: str, safe_path: bool = False) -> List[str]:
    """``python [-P] -m memory.benchmarking.cli ARGS``; -P keeps the cwd (a scratch clone) off sys.path,
    so the CLI is the installed checkout's, not the planted clone's."""
    return [sys.executable, *(["-P"] if safe_path else []), "-m", CLI_MODULE, *args]


def tail(path: Path, lines: int = 5) -> str:
    """The last lines of a log file, indented (for an error message)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in text[-lines:])
