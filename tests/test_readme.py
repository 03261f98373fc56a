"""The README's quick start runs as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def test_quick_start_runs_as_written(tmp_path):
    blocks = re.findall(r"```python\n(.*?)```", _section("Quick start"), re.S)
    assert len(blocks) >= 2
    before = set(os.listdir(tmp_path))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", "\n".join(blocks)], capture_output=True, text=True, cwd=tmp_path,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("{'position': [0, 0], 'health': 100}")
    assert lines[1] == "{'position': [3, 4], 'health': 80}"
    assert set(os.listdir(tmp_path)) == before  # the temporary LTM was removed at exit
