"""Everything the suite's modules share, under one name (``from .common import ...``), and the catalogue
command.  The pieces live in modules with one job each:

* :mod:`benchmarks.settings` -- the benchmark configuration (profile, grids) and shared parameter values;
* :mod:`benchmarks.workloads` -- the seeded workload generators (append-only; no Redis, no ``memory``);
* :mod:`benchmarks.backends` -- MemoryConfigs per backend, the Redis probe, Redis cleanup;
* :mod:`benchmarks.systems` -- fresh systems with their own namespace and temporary directory;
* :mod:`benchmarks.lifecycle` -- the base classes, their setup/teardown and the skip hook;
* :mod:`benchmarks.conventions` -- the metric convention (``@metrics``, ``@sampled``, metric kinds);
* :mod:`benchmarks.stats` -- small numeric helpers of the quality tracks;
* :mod:`benchmarks.catalog` -- the metric catalogue.

``python benchmarks/common.py --catalog`` prints the catalogue as JSON.  Tests and scripts that only
want states import :mod:`benchmarks.workloads`.  Only the public API of ``memory`` is used, the way a
user calls it.
"""

if __name__ == "__main__":  # pragma: no cover - run as a script: import the package, not this file
    import os
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from benchmarks.catalog import main

    raise SystemExit(main(sys.argv[1:]))

from .backends import (NAMESPACE_LOG_ENV, NAMESPACE_PREFIX, REDIS_URL, REDIS_URL_ENV, BackendUnavailable,  # noqa: F401
                       delete_redis_keys, in_asv_forkserver, log_namespace, make_config, redis_backend_status,
                       require_backend)
from .catalog import MODULES, metric_catalog  # noqa: F401
from .conventions import METRIC_KINDS, count_for, metric_kind_of, metrics, sampled, samples_per_track  # noqa: F401
from .lifecycle import Benchmark, CachedBenchmark, SystemBenchmark  # noqa: F401
from .settings import (BACKENDS, CONFIG, NO_AUTO_CLEANUP, PROFILE, SEARCH_TIERS, TIERS, TIMING, roomy,  # noqa: F401
                       sorted_unique)
from .stats import leaves, percentile, rank_correlation  # noqa: F401
from .systems import TEMP_PREFIX, fresh_system, open_system, release_handle  # noqa: F401
from .workloads import (BASE_TIME, CATEGORIES, ITEMS, STATUSES, category_states, clustered_states,  # noqa: F401
                        generate_test_state, test_states)
