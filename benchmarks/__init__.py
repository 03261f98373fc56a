"""The AgentMemory asv benchmark suite (see README.md in this directory).

BLAS libraries default to one thread per core and spin while waiting; on a small, busy machine that
turns a 5 ms matrix factorisation into 100 ms-2 s of noise.  The suite therefore pins BLAS/OpenMP
to one thread unless the variables are already set (set them to measure multi-threaded BLAS).
This runs before numpy is imported by any benchmark module.
"""

import os as _os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_var, "1")
