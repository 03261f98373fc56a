"""Plain-function benchmarks in the seed's style (``benchmark_*`` functions returning nested dicts).

The maintained suite is the asv one in ``benchmarks/`` (run it with the CLI or asv); these functions
keep the seed's documented example callable directly from Python, without asv.
"""
