"""Killing worker processes at a random moment of their work (the SIGKILL tests of LTM integrity)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Sequence


def kill_once_started(procs: Sequence[subprocess.Popen], sides: Sequence[str], pause: float,
                      start_timeout: float = 60.0) -> None:
    """Wait until every worker wrote its first line to its side file, let them work `pause` seconds,
    then SIGKILL them all and reap them (a worker that died before starting fails the test with its stderr)."""
    try:
        ready = time.monotonic() + start_timeout
        while not all(os.path.exists(s) and os.path.getsize(s) for s in sides):
            assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs if p.poll() is not None]
            assert time.monotonic() < ready, "workers did not start"
            time.sleep(0.01)
        time.sleep(pause)
    finally:
        for p in procs:
            p.send_signal(signal.SIGKILL)
        for p in procs:
            p.wait()
            if p.stderr is not None:
                p.stderr.close()
