#!/usr/bin/env python
"""Export asv results to the documented benchmark JSON.

    python tools/asv_export.py [--results-dir .asv/results] [--commit HASH] --output-dir DIR

Writes DIR/<category>/<benchmark>_<timestamp>.json for every benchmark of the chosen commit (default:
the most recent run). The logic lives in memory.benchmarking.asv_adapter.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from memory.benchmarking.asv_adapter import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
