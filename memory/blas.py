"""Scoped BLAS threading for the numpy-heavy parts (maintenance, training, large searches).

Agent simulations usually run many agents, threads or processes already; a multithreaded BLAS on
small matrices then spins threads against each other (on a busy 2-core machine a 100×384×128
projection took 3× longer with threads than without). The system limits BLAS to
`MemoryConfig.blas_threads` (default 1) only inside its own heavy calls, through threadpoolctl, and
leaves the process's setting alone everywhere else. None disables the limiting.
"""

from __future__ import annotations

import contextlib
from typing import ContextManager, Optional

_controller = None


def blas_limit(threads: Optional[int]) -> ContextManager:
    """A context that runs its body with at most `threads` BLAS threads (no-op for None)."""
    global _controller
    if threads is None:
        return contextlib.nullcontext()
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
            _controller = ThreadpoolController()
        except Exception:  # threadpoolctl missing or unable to inspect: run unlimited
            _controller = False
    if _controller is False:
        return contextlib.nullcontext()
    return _controller.limit(limits=threads, user_api="blas")
