"""The decision rule of the regression gate: is one metric's change a regression, an improvement,
noise, or something the data cannot judge?

Each metric has a kind (see :func:`memory.benchmarking.naming.metric_kind`):

- ``timing`` (``time_*`` values and sampled timing tracks: p95, overhead percent, efficiency, CPU
  seconds) is judged on its samples: a regression is worse (ratio of medians, by the metric's
  direction) by more than the threshold **and** different by a two-sided Mann-Whitney U test at
  `alpha`. Fewer than ``min_samples`` samples on either side is "not enough data", never a verdict.
- ``deterministic`` (recall, precision, MSE, cosine, ratios, bytes, counts) is seeded and exactly
  reproducible, so any change beyond a relative ``1e-9`` is a verdict, whatever the threshold.
- ``resource`` (peak memory, one sample per run) is judged on the threshold alone.

Overheads in percent (within ±100 %) are compared by their difference in percentage points (see
:func:`judge`).

A timing verdict is a claim about the code only when both sides were measured side by side
(interleaved, as ``cli continuous`` does). Two runs made at different times also differ by the
machine's load between them: on a shared machine whole runs and whole benchmark processes shift by
30 % to 300 %, and the samples of one run cannot tell that from a slower commit. So a timing of such
a pair that would be a regression or an improvement is ``unconfirmed``: reported, never failing a
build, to be confirmed side by side (``judge(..., side_by_side=False)``).
Intervals shown with a verdict are bootstrap intervals of the ratio of medians (current/baseline),
seeded so the same samples always give the same interval; they are never negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import List, Optional, Sequence, Tuple

import numpy as np

from .config import MIN_SAMPLES

KINDS = ("timing", "deterministic", "resource")
STATUSES = ("regression", "improvement", "unconfirmed", "noise", "unchanged", "not enough data")
#: Why a timing of runs measured at different times is not a verdict (see the module docstring).
UNCONFIRMED_REASON = ("measured at different times: the machine's load between the runs moves whole "
                      "runs this much; confirm side by side with `cli continuous`")
DEFAULT_ALPHA = 0.01
#: The first pass of ``cli continuous`` only screens: a timing beyond the threshold at p < this goes
#: on to the paired confirmation, which gives the verdict at DEFAULT_ALPHA. Its 6 + 6 samples of a
#: planted 25 % slowdown often give p 0.03-0.07 only, so a screen at DEFAULT_ALPHA missed real changes.
SCREEN_ALPHA = 0.1
#: A first-pass candidate must have moved by more than this share of the threshold, the flagged way,
#: in every round (every process) of the run: see :func:`rounds_agree`.
ROUND_SHARE = 0.5
#: Relative change below which a deterministic metric counts as unchanged (float round-off only).
EXACT_TOLERANCE = 1e-9
#: A timing whose samples spread by more than this fraction of their median is reported unstable
#: (the adapter's ``metadata.unstable``, with :func:`spread`; pyperf check's 10 % rule).
UNSTABLE_SPREAD = 0.10
BOOTSTRAP_ROUNDS = 2000
BOOTSTRAP_CONFIDENCE = 0.95


@dataclass(frozen=True)
class Verdict:
    """What the rule says of one metric: status, relative change, p-value, interval, sample counts."""

    status: str
    change: float  # relative change of the (median) value: (current - baseline) / |baseline|
    p_value: Optional[float] = None
    interval: Optional[Tuple[float, float]] = None  # bootstrap interval of median ratio current/baseline
    n_baseline: int = 0
    n_current: int = 0
    reason: str = ""


def relative_change(baseline: float, current: float) -> float:
    """(current - baseline) / |baseline|; ±inf when the baseline is 0 and the current is not."""
    if current == baseline:
        return 0.0
    if baseline == 0:
        return math.copysign(math.inf, current - baseline)
    return (current - baseline) / abs(baseline)


def in_points(percent: bool, baseline: float) -> bool:
    """Whether a metric changes in percentage points: an overhead in `percent` whose baseline is
    within ±100 % (often near 0 or negative, where a relative change means nothing)."""
    return percent and abs(baseline) <= 100.0


def metric_change(baseline: float, current: float, points: bool) -> float:
    """The change the rule judges: relative, or (`points`: an overhead in percent near zero) the
    difference in percentage points / 100, so a 0.1 threshold means 10 points."""
    return (current - baseline) / 100.0 if points else relative_change(baseline, current)


def _finite(samples: Optional[Sequence[float]]) -> List[float]:
    return [float(x) for x in samples or () if isinstance(x, (int, float)) and math.isfinite(x)]


@lru_cache(maxsize=4096)
def _u_distribution(m: int, n: int) -> Tuple[int, ...]:
    """Counts of each value of U over all C(m+n, m) orderings of two tie-free samples (exact null)."""
    # f(i, j)[u]: orderings of i x's and j y's with U = u; built column by column.
    prev = [[1] for _ in range(n + 1)]  # i = 0: a single ordering with U = 0 for any j
    for i in range(1, m + 1):
        cur = [[1]]  # j = 0
        for j in range(1, n + 1):
            # the largest element is an x (adds j to U) or a y (adds nothing)
            a, b = prev[j], cur[j - 1]
            size = max(len(a) + j, len(b))
            out = [0] * size
            for u, c in enumerate(a):
                out[u + j] += c
            for u, c in enumerate(b):
                out[u] += c
            cur.append(out)
        prev = cur
    return tuple(prev[n])


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> Tuple[float, float]:
    """(U of x, two-sided p) of the Mann-Whitney U test: exact for small tie-free samples, else the
    normal approximation with tie and continuity corrections."""
    x, y = _finite(x), _finite(y)
    m, n = len(x), len(y)
    if not m or not n:
        raise ValueError("mann_whitney_u needs at least one sample on each side")
    joined = np.asarray(x + y)
    order = joined.argsort(kind="mergesort")
    ranks = np.empty(m + n)
    ranks[order] = np.arange(1, m + n + 1, dtype=float)
    values, inverse, counts = np.unique(joined, return_inverse=True, return_counts=True)
    ties = bool((counts > 1).any())
    if ties:  # average ranks within ties
        sums = np.bincount(inverse, weights=ranks)
        ranks = (sums / counts)[inverse]
    u = float(ranks[:m].sum() - m * (m + 1) / 2.0)
    if not ties and m * n <= 400:
        dist = _u_distribution(m, n)
        total = float(sum(dist))
        low = min(u, m * n - u)
        tail = sum(dist[: int(math.floor(low)) + 1]) / total
        return u, min(1.0, 2.0 * tail)
    mean = m * n / 2.0
    tie_term = float(((counts ** 3) - counts).sum()) / ((m + n) * (m + n - 1)) if m + n > 1 else 0.0
    var = m * n / 12.0 * ((m + n + 1) - tie_term)
    if var <= 0:
        return u, 1.0
    z = (abs(u - mean) - 0.5) / math.sqrt(var)
    return u, min(1.0, math.erfc(max(z, 0.0) / math.sqrt(2.0)))


def min_p_value(m: int, n: int) -> float:
    """The smallest two-sided p the exact test can give for sample sizes m and n."""
    if m < 1 or n < 1:
        return 1.0
    return min(1.0, 2.0 / math.comb(m + n, m))


def ratio_interval(baseline: Sequence[float], current: Sequence[float],
                   confidence: float = BOOTSTRAP_CONFIDENCE, rounds: int = BOOTSTRAP_ROUNDS,
                   seed: int = 0) -> Optional[Tuple[float, float]]:
    """Percentile bootstrap interval of median(current) / median(baseline), or None without samples
    (or with a zero baseline median). Seeded: the same samples give the same interval."""
    base, cur = np.asarray(_finite(baseline)), np.asarray(_finite(current))
    if len(base) < 2 or len(cur) < 2:
        return None
    rng = np.random.default_rng(seed)
    b = np.median(base[rng.integers(0, len(base), (rounds, len(base)))], axis=1)
    c = np.median(cur[rng.integers(0, len(cur), (rounds, len(cur)))], axis=1)
    if (b <= 0).any():
        return None
    ratios = c / b
    tail = (1.0 - confidence) / 2.0
    return float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1.0 - tail))


def spread(samples: Sequence[float]) -> Optional[float]:
    """Robust relative spread of samples: 1.4826 * MAD / median (≈ stdev / mean for normal noise, but
    one outlier does not inflate it); None with fewer than 3 samples or a zero median."""
    values = np.asarray(_finite(samples))
    if len(values) < 3:
        return None
    median = float(np.median(values))
    if median == 0:
        return None
    return float(1.4826 * np.median(np.abs(values - median)) / abs(median))


def _by_threshold(change: float, direction: int, threshold: float) -> str:
    better = change * direction
    if abs(better) <= threshold:
        return "unchanged"
    return "improvement" if better > 0 else "regression"


def judge(kind: str, baseline: float, current: float, direction: int, threshold: float,
          baseline_samples: Optional[Sequence[float]] = None,
          current_samples: Optional[Sequence[float]] = None, alpha: float = DEFAULT_ALPHA,
          min_samples: int = MIN_SAMPLES, percent: bool = False, side_by_side: bool = True) -> Verdict:
    """The verdict on one metric (see the module docstring); `direction` is +1 when higher is better,
    -1 when lower is better. A timing of two runs not measured `side_by_side` that would be a
    regression or an improvement is ``unconfirmed``. A `percent` metric (an overhead in percent,
    often near 0 or negative) whose baseline is within ±100 % changes by its difference in percentage points / 100, so a 0.1
    threshold means 10 points; a larger percentage changes relatively, like any other metric."""
    points = in_points(percent, baseline)
    change = metric_change(baseline, current, points)
    if kind == "deterministic":
        if abs(change) <= EXACT_TOLERANCE or (baseline == 0 and abs(current) <= 1e-12):
            return Verdict("unchanged", change, reason="exact")
        status = "improvement" if change * direction > 0 else "regression"
        return Verdict(status, change, reason="deterministic metric changed")
    if kind == "resource":
        return Verdict(_by_threshold(change, direction, threshold), change, reason="threshold")
    base, cur = _finite(baseline_samples), _finite(current_samples)
    if len(base) < min_samples or len(cur) < min_samples:
        return Verdict("not enough data", change, n_baseline=len(base), n_current=len(cur),
                       reason=f"needs {min_samples} samples on each side")
    change = metric_change(float(np.median(base)), float(np.median(cur)), points)
    _, p = mann_whitney_u(base, cur)
    interval = None if points else ratio_interval(base, cur)
    status = _by_threshold(change, direction, threshold)
    reason = f"Mann-Whitney p={p:.3g}"
    if status != "unchanged" and p >= alpha:
        status = "noise"
    elif status != "unchanged" and not side_by_side:
        status, reason = "unconfirmed", f"{reason}; {UNCONFIRMED_REASON}"
    return Verdict(status, change, p, interval, len(base), len(cur), reason=reason)


def round_changes(baseline: Sequence[float], current: Sequence[float], baseline_rounds: Optional[Sequence[int]],
                  current_rounds: Optional[Sequence[int]]) -> Optional[List[float]]:
    """The relative change of each round's median, round i of current against round i of baseline
    (an interleaved asv run measures those one after the other, one process each); None unless both
    sides split into the same number (at least 2) of rounds that hold all their samples. Only
    ``time_*`` samples (seconds) have rounds: asv runs a track in one round."""
    base, cur = _finite(baseline), _finite(current)
    splits = []
    for values, sizes in ((base, baseline_rounds), (cur, current_rounds)):
        if not sizes or len(sizes) < 2 or min(sizes) < 1 or sum(sizes) != len(values):
            return None
        ends = np.cumsum(sizes)
        splits.append([values[end - size:end] for size, end in zip(sizes, ends)])
    if len(splits[0]) != len(splits[1]):
        return None
    return [relative_change(float(np.median(b)), float(np.median(c))) for b, c in zip(*splits)]


def rounds_agree(changes: Sequence[float], direction: int, threshold: float, status: str,
                 share: float = ROUND_SHARE) -> bool:
    """Whether every round moved the way `status` (regression or improvement) says, by more than
    `share` of the threshold: a change of the code slows every process of the commit, a process that
    ran slow for its whole life moves only its own round."""
    sign = direction if status == "improvement" else -direction
    return all(c * sign > share * threshold for c in changes)


def sign_test_p(agreeing: int, pairs: int) -> float:
    """One-sided exact sign test: the chance that at least `agreeing` of `pairs` fair coin flips land
    the same way (the p-value of "the change goes this way" when there is no change)."""
    if pairs <= 0 or agreeing <= 0:
        return 1.0
    return float(sum(math.comb(pairs, k) for k in range(agreeing, pairs + 1)) / 2.0 ** pairs)


@dataclass(frozen=True)
class PairedVerdict:
    """What the paired re-measurement says of one flagged timing."""

    confirmed: bool
    change: float  # median over all block pairs of the relative change current against baseline
    p_value: float  # one-sided sign test that the change goes the flagged way
    pairs: int
    process_changes: Tuple[float, ...]  # the median change in each process pair
    reason: str


def paired_verdict(changes_by_process: Sequence[Sequence[float]], direction: int, threshold: float,
                   worse: bool, alpha: float = DEFAULT_ALPHA) -> PairedVerdict:
    """Judge block pairs measured back to back (baseline then current, or the reverse, in one pair of
    processes): each value is one pair's relative change of current against baseline. Confirmed when
    the median change over all pairs is beyond `threshold` the flagged way (`worse`: a regression by
    `direction`, else an improvement), a one-sided sign test over the pairs says so at `alpha`, and
    the median of every process pair goes that way too. Blocks measured milliseconds apart share the
    machine's state, so its phases (whole seconds when the same code runs 50 % slower) cancel pair by
    pair; the every-process condition guards against a process that is slow for its whole life."""
    per_process = [[float(c) for c in changes if math.isfinite(c)] for changes in changes_by_process]
    per_process = [changes for changes in per_process if changes]
    pooled = [c for changes in per_process for c in changes]
    if len(per_process) < 2 or len(pooled) < MIN_SAMPLES:
        return PairedVerdict(False, float(np.median(pooled)) if pooled else 0.0, 1.0, len(pooled),
                             tuple(float(np.median(c)) for c in per_process),
                             f"{len(pooled)} block pairs from {len(per_process)} process pairs: not enough data")
    sign = (-direction if worse else direction) or 1  # +1: current must be above the baseline
    change = float(np.median(pooled))
    medians = tuple(float(np.median(c)) for c in per_process)
    p = sign_test_p(sum(1 for c in pooled if c * sign > 0), len(pooled))
    wanted = "regression" if worse else "improvement"
    beyond = _by_threshold(change, direction, threshold) == wanted
    everywhere = all(m * sign > 0 for m in medians)
    confirmed = beyond and p < alpha and everywhere
    spread = ", ".join(f"{100 * m:+.1f} %" for m in medians)
    reason = (f"paired re-measurement {100 * change:+.1f} % over {len(pooled)} block pairs "
              f"(sign test p={p:.2g}; per process pair {spread})")
    if not confirmed:
        missing = [what for what, ok in (("beyond the threshold", beyond), (f"p < {alpha:g}", p < alpha),
                                         ("the same way in every process pair", everywhere)) if not ok]
        reason += "; not " + ", not ".join(missing)
    return PairedVerdict(confirmed, change, p, len(pooled), medians, reason)
