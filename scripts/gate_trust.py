#!/usr/bin/env python3
"""Thin wrapper around the gate-trust harness: ``python scripts/gate_trust.py all --trials 10``.

The harness (the method, the modes, the targets: ``--help``) lives in the package tools/gate_trust/;
exit codes: 0 every trial ran (whatever the verdicts), 1 an error, 130 interrupted.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tools.gate_trust.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
