"""How far can the regression gate be trusted?  Re-measure its false-alarm and detection rates.

Method
------
A gate is only useful if it stays quiet when nothing changed and speaks when something did. This
harness measures both on the real CLI, the way a team would use it:

* **A/A, sequential** (``aa-sequential``): ``cli run`` N+1 times on the current checkout, then
  ``cli compare --json`` of each run against the one before it. Same code on both sides, so every
  exit 2 is a false alarm.
* **A/A, continuous** (``aa-continuous``): a scratch clone gets an EMPTY commit on top of HEAD (the
  same tree under a second hash) and ``cli continuous HEAD~1 HEAD`` runs N times: asv builds both
  commits and runs them interleaved, so every exit 2 is again a false alarm.
* **Planted changes** (``planted --change NAME``): a scratch clone gets one commit that makes a known
  change, as a bad commit would (a 25 % slowdown of one API method, a 10 % recall drop, LTM records
  25 % larger), and ``cli continuous <base> <planted>`` runs N times. A trial DETECTS the change when
  it exits 2 and at least one RELATED measurement is a regression. RELATED means the measurement's
  asv benchmark is one the change is built to move (it times the slowed method, or computes the
  recall / LTM sizes); each change declares them below (``Rule``), derived by reading benchmarks/*.py.
  Any other flagged measurement is UNRELATED: a false alarm during a real change.

A slowdown is proportional, so it is 25 % at any input size: the public method is wrapped, the real
call timed with perf_counter, then a busy-spin of 0.25 x that duration (less the wrapper's own cost,
calibrated at import) follows. The recall drop asks for k+1 hits and returns hits[:k-1] + [hits[k]]
for k >= 10. The LTM change appends round(len/4) zero bytes after each record's deflate stream.

The gate runs as ``python -P -m memory.benchmarking.cli`` with the clone as cwd: -P keeps the clone
off sys.path, so the CLI is this checkout's installed code while asv builds and measures the clone's
commits (``AGENTMEMORY_ASV_CONFIG`` points at the clone's asv.conf.json).

Every planted change is an append-only edit of one source file in the clone, guarded by anchors
(texts that must occur exactly once): a missing anchor raises ``PlantError`` naming the file and the
text, so a refactor can never turn a planted change into a silent no-op. ``verify`` measures each
change directly (no CLI, no asv): it imports the unpatched and the patched ``memory`` package side by
side in one process and reports the time ratio, recall, and LTM bytes.

Outputs: a progress line per trial, a table at the end, and a JSON summary (rewritten after every
trial) at ``<work-dir>/gate_trust_<mode>_<timestamp>.json``. The scratch clone lives in
``<work-dir>/clone`` and is removed at the end unless ``--keep`` (a kept clone is reused by the next
run with the same ``--work-dir``, asv environments included). ``--dry-run`` prints the commands.

Stdlib only (``verify`` imports the clone's ``memory`` package, which needs numpy).
"""

# The docstring above is the method, and `python scripts/gate_trust.py --help` prints it verbatim
# (cli.py passes it to argparse). The modules, one job each:
#   planted.py   the planted changes: rules, injected wrapper sources, anchors, apply_change
#   shell.py     running (or printing) commands: Shell, git helpers, the gate's command line, exit codes
#   clone.py     the scratch clone: clone/refresh, branches, commits, worktrees, the -P import check
#   verdicts.py  one trial judged: its verdict's flagged measurements, related or unrelated
#   summary.py   a mode's trials added up: ModeResult and its target, progress line, table, JSON summary
#   context.py   the settings one invocation shares across its modes
#   trials.py    the modes on the real gate: aa-sequential, aa-continuous, planted
#   verify.py    each planted change measured directly, base and patched code side by side
#   cli.py       argparse, the plan of modes, argument checks, main
