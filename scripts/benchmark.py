#!/usr/bin/env python
"""Thin wrapper around the benchmarking CLI: ``python scripts/benchmark.py run --category storage``.

Same commands, options and exit codes as ``python -m memory.benchmarking.cli`` (0 ok, 1 error,
2 performance regression from ``compare``).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memory.benchmarking.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
