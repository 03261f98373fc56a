"""The scratch clone the gate is measured in: cloned at the repository's HEAD (or a kept clone
refreshed to it), one branch per mode from that base (gate-trust/aa: an empty commit, the same tree
under a second hash; gate-trust/<change>: one planted commit), detached worktrees for verify, the
check that ``python -P`` in the clone imports the checkout's installed code rather than the clone's,
and removal."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .planted import PlantedChange, apply_change
from .shell import HarnessError, Shell, git, git_step

BRANCH_PREFIX = "gate-trust/"
GIT_IDENTITY = ("-c", "user.name=gate-trust", "-c", "user.email=gate-trust@localhost")


@dataclass
class Clone:
    """A scratch clone of the repository and the commit its branches start from."""

    path: Path
    base: str  # the repository's HEAD commit when cloned (or fetched)


def make_clone(shell: Shell, repo: Path, path: Path) -> Clone:
    """Clone `repo` into `path` (or refresh a kept clone there) and reset it to the repo's HEAD."""
    base = git(["rev-parse", "HEAD"], repo)
    clone_cmd = ["git", "clone", "--quiet", "--local", "--no-hardlinks", str(repo), str(path)]
    if shell.dry_run:
        shell.run(clone_cmd)
        return Clone(path, base)
    if (path / ".git").is_dir():  # a kept clone: bring in the repo's HEAD
        git(["fetch", "--quiet", str(repo), "HEAD"], path)
        if git(["rev-parse", "FETCH_HEAD"], path) != base:
            raise HarnessError(f"the kept clone {path} could not fetch {base} from {repo}")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        code, _ = shell.run(clone_cmd)
        if code != 0:
            raise HarnessError(f"git clone of {repo} into {path} failed")
    git(["checkout", "--quiet", "--force", "--detach", base], path)
    git(["clean", "-fdxq", "-e", ".asv"], path)  # keep asv's environments and results between runs
    return Clone(path, base)


def start_branch(shell: Shell, clone: Clone, name: str) -> None:
    """Check out branch gate-trust/<name> at the base commit (reset if it exists)."""
    git_step(shell, ["checkout", "--quiet", "--force", "-B", BRANCH_PREFIX + name, clone.base], clone.path)


def commit(shell: Shell, clone: Clone, message: str, files: Sequence[str] = (), allow_empty: bool = False) -> str:
    """Commit `files` (or nothing, with allow_empty) on the current branch; returns the new commit."""
    if files:
        git_step(shell, ["add", "--", *files], clone.path)
    args = [*GIT_IDENTITY, "commit", "--quiet", "--no-verify", "-m", message]
    args += ["--allow-empty"] if allow_empty else []
    git_step(shell, args, clone.path)
    return "" if shell.dry_run else git(["rev-parse", "HEAD"], clone.path)


def prepare_aa(shell: Shell, clone: Clone) -> str:
    """Branch gate-trust/aa: the base plus an empty commit (same tree, another hash); returns its hash."""
    start_branch(shell, clone, "aa")
    head = commit(shell, clone, "gate_trust: empty commit (A/A: same tree as its parent)", allow_empty=True)
    if head and git(["rev-parse", "HEAD^{tree}"], clone.path) != git(["rev-parse", "HEAD~1^{tree}"], clone.path):
        raise HarnessError("the A/A commit changed the tree")
    return head


def prepare_planted(shell: Shell, clone: Clone, change: PlantedChange) -> str:
    """Branch gate-trust/<change>: the base plus one commit with the planted change; returns its hash."""
    start_branch(shell, clone, change.name)
    if shell.dry_run:
        shell.note(f"append the planted block of {change.name!r} to {change.file} (anchors: "
                   + ", ".join(repr(a.strip()) for a in change.anchors) + ")")
    else:
        apply_change(clone.path, change)
    head = commit(shell, clone, f"gate_trust: planted change {change.name}: {change.summary}", files=[change.file])
    if head:
        changed = git(["diff", "--name-only", "HEAD~1", "HEAD"], clone.path).splitlines()
        if changed != [change.file]:
            raise HarnessError(f"planted commit of {change.name!r} changed {changed}, expected [{change.file}]")
    return head


def remove_clone(clone: Optional[Clone]) -> None:
    """Delete a scratch clone (its worktrees included)."""
    if clone is not None and clone.path.exists():
        shutil.rmtree(clone.path, ignore_errors=True)


def check_cli_import(clone: Clone) -> str:
    """Where ``python -P`` run in the clone imports `memory` from; HarnessError if from the clone itself
    (the CLI must be the checkout's, and must not run the planted code)."""
    proc = subprocess.run([sys.executable, "-P", "-c", "import memory; print(memory.__file__)"], cwd=clone.path,
                          capture_output=True, text=True)
    where = proc.stdout.strip()
    if proc.returncode != 0 or not where:
        raise HarnessError("the CLI cannot be imported outside the repo: pip install -e . in the checkout "
                           f"({proc.stderr.strip().splitlines()[-1:] or ''})")
    if Path(where).resolve().is_relative_to(clone.path.resolve()):
        raise HarnessError(f"python -P in the clone imports memory from the clone ({where}); unset PYTHONPATH")
    return where


def add_worktree(clone: Clone, rev: str, dest: Path) -> Path:
    """A detached worktree of the clone at `rev` (for importing one version of the code)."""
    git(["worktree", "add", "--quiet", "--force", "--detach", str(dest), rev], clone.path)
    return dest
