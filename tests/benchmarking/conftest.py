"""Fixtures for the benchmarking tests: a tiny real asv project, the spec text, a CLI runner."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from .toy_suite import make_toy_project

REPO = Path(__file__).resolve().parents[2]
SPEC_CANDIDATES = [REPO / "docs" / "benchmarking-system.md",
                   Path("/work/shared/spec/benchmarking-system.md")]


def spec_text() -> str:
    """The user's benchmarking-system.md (the copy in docs/ when the repo has one)."""
    for path in SPEC_CANDIDATES:
        if path.is_file():
            return path.read_text(encoding="utf-8")
    pytest.skip("benchmarking-system.md not found (looked in docs/ and /work/shared/spec)")


def code_blocks(text: str, language: str) -> List[str]:
    """Fenced code blocks of the given language, in order."""
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def spec_commands(text: str) -> List[str]:
    """Every `python ...` command line in the spec's shell blocks, in order."""
    commands = []
    for language in ("powershell", "bash"):
        for block in code_blocks(text, language):
            for line in block.splitlines():
                line = line.strip()
                if line.startswith("python "):
                    commands.append(line)
    return commands


def run_cli(args: List[str], cwd: Path, env: Optional[Dict[str, str]] = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run a command line (list of words, first one "python") in `cwd` with the test environment."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    words = [sys.executable if args[0] == "python" else args[0]] + list(args[1:])
    return subprocess.run(words, cwd=str(cwd), env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def toy_project(tmp_path_factory) -> Path:
    """A real asv project with one small benchmark class per category (git-committed)."""
    root = tmp_path_factory.mktemp("toy_asv")
    return make_toy_project(root)


@pytest.fixture()
def toy_env(toy_project) -> Dict[str, str]:
    """Environment pointing the CLI at the toy asv project on the quick profile."""
    return {"AGENTMEMORY_ASV_CONFIG": str(toy_project), "AGENTMEMORY_BENCH_PROFILE": "quick"}


@pytest.fixture()
def workdir(tmp_path) -> Path:
    """A temp working directory holding scripts/benchmark.py, like a checkout's root."""
    (tmp_path / "scripts").mkdir()
    shutil.copy2(REPO / "scripts" / "benchmark.py", tmp_path / "scripts" / "benchmark.py")
    return tmp_path


def chromium() -> Optional[str]:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None
