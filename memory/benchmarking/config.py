"""BenchmarkConfig: the parameter grids of every benchmark category, per profile, as JSON.

The asv suite (``benchmarks/common.py``) reads it with :meth:`BenchmarkConfig.from_env`; the CLI and
:class:`~memory.benchmarking.runner.BenchmarkRunner` hand it to asv through the environment variable
``AGENTMEMORY_BENCH_CONFIG`` (a path to a file written by :meth:`BenchmarkConfig.save`).

``BenchmarkConfig()`` holds the reference implementation's documented grid (the *config grid*, e.g.
``storage.batch_sizes == [10, 100, 1000, 10000]``). Profiles (``quick`` | ``default`` | ``full``) choose
how much of it runs and how long (asv's repeat, number, warmup): ``full`` runs all of it, ``default``
and ``quick`` run their own smaller grids (:data:`PROFILE_GRIDS`). A value equal to its config-grid
default or to its profile's grid *follows the profile*; any other value, and any value set through
:meth:`BenchmarkConfig.apply_overrides` (a file lists those under ``"explicit"``), is *explicit* and
wins over every profile. ``AGENTMEMORY_BENCH_PROFILE`` overrides the profile.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Type, Union

from memory.errors import ConfigError

CONFIG_ENV = "AGENTMEMORY_BENCH_CONFIG"
PROFILE_ENV = "AGENTMEMORY_BENCH_PROFILE"
#: Samples a sampled timing track (``benchmarks.conventions.sampled``) takes per call, overriding the
#: profile's ``track_samples``: set by the confirmation pass for its benchmark processes.
TRACK_SAMPLES_ENV = "AGENTMEMORY_BENCH_TRACK_SAMPLES"
#: The PostgreSQL server of the suite's LTM benchmarks (benchmarks/backends.py) and of the driver's
#: sweep of what they left (memory.benchmarking.runner.sweep_postgres_rows): the variable and its default.
POSTGRES_URL_ENV = "AGENTMEMORY_BENCH_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
PROFILES = ("quick", "default", "full")
CATEGORIES = ("storage", "compression", "memory_transition", "retrieval", "scalability", "integration",
              "implementations")
#: Categories that run only when named (``cli run --category implementations``): a whole-suite
#: selection (``cli run``, ``cli continuous`` without ``--category``) leaves them out (:func:`default_categories`).
OPT_IN_CATEGORIES = ("implementations",)
DEFAULT_CONFIG_FILENAME = "benchmark_config.json"
EXPLICIT_KEY = "explicit"  # a config file's list of values explicit although equal to a default


@dataclass
class StorageConfig:
    """Storage benchmarks: write batch sizes, state complexity levels, read samples per measurement."""

    batch_sizes: List[int] = field(default_factory=lambda: [10, 100, 1000, 10000])
    data_complexity_levels: List[int] = field(default_factory=lambda: [1, 5, 10])
    num_samples: int = 1000


@dataclass
class CompressionConfig:
    """Compression benchmarks: training-set sizes, embedding dimensions, autoencoder epochs."""

    dataset_sizes: List[int] = field(default_factory=lambda: [100, 1000, 10000])
    target_dimensions: List[int] = field(default_factory=lambda: [128, 256, 512])
    training_iterations: int = 1000


@dataclass
class MemoryTransitionConfig:
    """Transition benchmarks: importance thresholds and the retention score's weights."""

    transition_thresholds: List[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    importance_weights: Dict[str, float] = field(
        default_factory=lambda: {"priority": 1.0, "reward": 0.5, "novelty": 0.5, "retrieval": 0.25})


@dataclass
class RetrievalConfig:
    """Retrieval benchmarks: stored memories, queries per run, embedding sizes, similarity cut-offs."""

    dataset_size: int = 10000
    query_counts: List[int] = field(default_factory=lambda: [1, 10, 50, 100])
    vector_dimensions: List[int] = field(default_factory=lambda: [128, 256, 512])
    similarity_thresholds: List[float] = field(default_factory=lambda: [0.7, 0.8, 0.9])


@dataclass
class ScalabilityConfig:
    """Scalability benchmarks: number of agents, memories held, concurrent workers."""

    agent_counts: List[int] = field(default_factory=lambda: [1, 10, 50, 100, 500])
    memory_sizes: List[int] = field(default_factory=lambda: [1000, 10000, 100000])
    parallel_operations: List[int] = field(default_factory=lambda: [1, 4, 8, 16])


@dataclass
class IntegrationConfig:
    """Integration benchmarks: operations per measurement and concurrent API clients."""

    operations_per_test: int = 1000
    concurrent_clients: List[int] = field(default_factory=lambda: [1, 5, 10, 20])


def _peer_names() -> tuple:
    """Every registered implementation (the peers registry imports no optional package)."""
    from .peers import NAMES

    return NAMES


@dataclass
class ImplementationsConfig:
    """Implementations side by side (opt-in): the peers measured (``memory.benchmarking.peers.NAMES``),
    the memory counts of search and recall, the batch sizes stored, the memories the read, step-range,
    attribute and footprint benchmarks hold, queries per timed call, and queries averaged for recall."""

    names: List[str] = field(default_factory=lambda: list(_peer_names()))
    memory_counts: List[int] = field(default_factory=lambda: [1000, 10000, 100000])
    store_batch_sizes: List[int] = field(default_factory=lambda: [1000, 10000])
    read_memories: int = 10000
    queries_per_call: int = 5
    recall_queries: int = 20


_SECTION_TYPES = {
    "storage": StorageConfig,
    "compression": CompressionConfig,
    "memory_transition": MemoryTransitionConfig,
    "retrieval": RetrievalConfig,
    "scalability": ScalabilityConfig,
    "integration": IntegrationConfig,
    "implementations": ImplementationsConfig,
}

#: What each profile runs where it differs from the config grid (the dataclass defaults above, the
#: reference's documented grid): ``full`` runs the whole config grid; ``default`` keeps the grids the
#: suite ran before the config grid became the reference's (the regression gate's measured false-alarm
#: rates and every asv benchmark's params and history rest on them): of the reference lists it runs
#: all of storage's and memory_transition's, ``query_counts`` [10, 100], ``memory_sizes``
#: [1000, 10000], ``parallel_operations`` [1, 4], and its own smaller values for the rest;
#: ``quick`` runs tiny grids for smoke runs.
PROFILE_GRIDS: Dict[str, Dict[str, Dict[str, Any]]] = {
    "quick": {
        "storage": {"batch_sizes": [10, 100], "data_complexity_levels": [1], "num_samples": 20},
        "compression": {"dataset_sizes": [200], "target_dimensions": [16], "training_iterations": 5},
        "memory_transition": {"transition_thresholds": [0.5]},
        "retrieval": {"dataset_size": 300, "query_counts": [10], "vector_dimensions": [32],
                      "similarity_thresholds": [0.7]},
        "scalability": {"agent_counts": [1, 2], "memory_sizes": [100, 300], "parallel_operations": [2]},
        "integration": {"operations_per_test": 50, "concurrent_clients": [1, 2]},
        "implementations": {"memory_counts": [200, 1000], "store_batch_sizes": [100], "read_memories": 500,
                            "queries_per_call": 3, "recall_queries": 10},
    },
    "default": {
        "storage": {"num_samples": 100},
        "compression": {"dataset_sizes": [1000, 5000], "target_dimensions": [16, 32, 64],
                        "training_iterations": 50},
        "retrieval": {"dataset_size": 5000, "query_counts": [10, 100], "vector_dimensions": [32, 128],
                      "similarity_thresholds": [0.6, 0.7, 0.8]},
        "scalability": {"agent_counts": [1, 4, 16], "memory_sizes": [1000, 10000], "parallel_operations": [1, 4]},
        "integration": {"operations_per_test": 500, "concurrent_clients": [1, 4]},
        "implementations": {"store_batch_sizes": [1000]},
    },
    "full": {},
}

# asv timing attributes per profile (names are asv's benchmark attributes), plus ``track_samples``:
# how many samples a sampled timing track (``benchmarks.common.sampled``) takes in its process (asv
# runs tracks in one round only, so this alone must reach MIN_SAMPLES in the default profile).
# repeat may be an int or asv's (min_repeat, max_repeat, max_time_seconds) tuple.
_PROFILE_TIMING: Dict[str, Dict[str, Any]] = {
    # quick: one sample, for smoke runs; compare reports its timings as "not enough data"
    "quick": {"repeat": 1, "number": 1, "warmup_time": 0.0, "rounds": 1, "sample_time": 0.01,
              "timeout": 120.0, "track_samples": 1},
    # default: two rounds (two processes per benchmark, interleaved across commits by `continuous`)
    # of 3 to 6 samples within 0.2 s each, so every timing carries at least 6 samples from two
    # processes (enough for a rank test to say "different" at p < 0.01) and a short benchmark costs
    # about 0.4 s per commit
    "default": {"repeat": (3, 6, 0.2), "number": 1, "warmup_time": 0.0, "rounds": 2, "sample_time": 0.05,
                "timeout": 300.0, "track_samples": 6},
    "full": {"repeat": (5, 20, 30.0), "number": 0, "warmup_time": 0.5, "rounds": 4, "sample_time": 0.1,
             "timeout": 1200.0, "track_samples": 10},
}

#: Samples a timing needs on each side before compare may call it a regression (see verdict.py).
MIN_SAMPLES = 5

# Expected value kind per field: "ints" list of positive ints, "floats" list of numbers in [0, 1],
# "int" positive int, "weights" dict of str -> non-negative number, "names" distinct implementation names.
_FIELD_KINDS: Dict[str, str] = {
    "storage.batch_sizes": "ints", "storage.data_complexity_levels": "ints", "storage.num_samples": "int",
    "compression.dataset_sizes": "ints", "compression.target_dimensions": "ints",
    "compression.training_iterations": "int",
    "memory_transition.transition_thresholds": "fractions",
    "memory_transition.importance_weights": "weights",
    "retrieval.dataset_size": "int", "retrieval.query_counts": "ints", "retrieval.vector_dimensions": "ints",
    "retrieval.similarity_thresholds": "fractions",
    "scalability.agent_counts": "ints", "scalability.memory_sizes": "ints",
    "scalability.parallel_operations": "ints",
    "integration.operations_per_test": "int", "integration.concurrent_clients": "ints",
    "implementations.names": "names", "implementations.memory_counts": "ints",
    "implementations.store_batch_sizes": "ints", "implementations.read_memories": "int",
    "implementations.queries_per_call": "int", "implementations.recall_queries": "int",
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _check_value(key: str, value: Any) -> Any:
    """Raise ConfigError naming `key` when `value` has the wrong type; return a normalised copy."""
    kind = _FIELD_KINDS[key]
    if kind == "int":
        if not _is_int(value) or value <= 0:
            raise ConfigError(f"{key} must be a positive integer; got {value!r}")
        return value
    if kind == "weights":
        if not isinstance(value, dict) or not value:
            raise ConfigError(f"{key} must be a non-empty object of name -> number; got {value!r}")
        for name, weight in value.items():
            if not isinstance(name, str) or not _is_number(weight) or weight < 0:
                raise ConfigError(f"{key}.{name} must be a non-negative number; got {weight!r}")
        return dict(value)
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key} must be a non-empty list; got {value!r}")
    if kind == "names":
        names = _peer_names()
        if any(item not in names for item in value) or len(set(value)) != len(value):
            raise ConfigError(f"{key} must be distinct names of {', '.join(names)}; got {value!r}")
        return list(value)
    for item in value:
        if kind == "ints" and (not _is_int(item) or item <= 0):
            raise ConfigError(f"{key} must be a list of positive integers; got item {item!r}")
        if kind == "fractions" and (not _is_number(item) or not 0.0 <= item <= 1.0):
            raise ConfigError(f"{key} must be a list of numbers from 0 to 1; got item {item!r}")
    return list(value)


def require_category(name: Any, valid: Iterable[str], error: Type[Exception] = ConfigError) -> str:
    """`name` when it is one of the `valid` categories, else `error` (the caller's own exception type)
    listing them: the one wording of "unknown category" for the config, the runner and continuous."""
    valid = list(valid)
    if name not in valid:
        raise error(f"unknown category {name!r}; valid: {', '.join(valid) or 'none'}")
    return name


def default_categories(found: Iterable[str]) -> List[str]:
    """The categories a whole-suite selection runs, of those `found` in the suite: CATEGORIES' order,
    then any others sorted, without the opt-in ones (:data:`OPT_IN_CATEGORIES`: run only when named)."""
    found = list(found)
    ordered = [c for c in CATEGORIES if c in found] + sorted(c for c in set(found) if c not in CATEGORIES)
    return [c for c in ordered if c not in OPT_IN_CATEGORIES]


def _check_profile(profile: Any, where: str = "profile") -> str:
    if profile not in PROFILES:
        raise ConfigError(f"{where} must be one of {', '.join(PROFILES)}; got {profile!r}")
    return profile


def _checked_section(section: str, values: Any) -> Dict[str, Any]:
    """``{field: value}`` of one category's section, each value checked and normalised; ConfigError
    for a section that is no object, an unknown field or a value of the wrong type (the first found)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{section} must be an object; got {type(values).__name__}")
    known = [f.name for f in fields(_SECTION_TYPES[section])]
    checked: Dict[str, Any] = {}
    for name, value in values.items():
        if name not in known:
            raise ConfigError(f"unknown config key '{section}.{name}'; allowed: {', '.join(known)}")
        checked[name] = _check_value(f"{section}.{name}", value)
    return checked


def _checked_pins(value: Any) -> Set[str]:
    """The ``"explicit"`` entry of a config dict: a list of known ``"section.field"`` names."""
    if not isinstance(value, list) or any(not isinstance(item, str) or item not in _FIELD_KINDS
                                          for item in value):
        raise ConfigError(f"{EXPLICIT_KEY} must be a list of 'section.field' names "
                          f"(e.g. 'storage.batch_sizes'); got {value!r}")
    return set(value)


def _follows_profile(section: str, name: str, value: Any, profile: str) -> bool:
    """True when `value` of ``section.name`` is its config-grid default or `profile`'s grid value, so
    the profile decides what runs (any other value is explicit)."""
    grid = PROFILE_GRIDS[profile].get(section, {})
    reference = getattr(_SECTION_TYPES[section](), name)
    return value == reference or (name in grid and value == grid[name])


@dataclass
class BenchmarkConfig:
    """Grids for every benchmark category, the results directory and the profile.

    ``BenchmarkConfig()`` is the config grid (the reference's documented defaults) on the ``default``
    profile, which runs :data:`PROFILE_GRIDS` ``["default"]`` wherever it differs; :meth:`for_profile`
    gives the grid a profile runs. Values you set to anything else are explicit and always run."""

    storage: StorageConfig = field(default_factory=StorageConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    memory_transition: MemoryTransitionConfig = field(default_factory=MemoryTransitionConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    scalability: ScalabilityConfig = field(default_factory=ScalabilityConfig)
    integration: IntegrationConfig = field(default_factory=IntegrationConfig)
    implementations: ImplementationsConfig = field(default_factory=ImplementationsConfig)
    output_dir: str = "benchmark_results"
    profile: str = "default"

    def __post_init__(self) -> None:
        # "section.field" names set through apply_overrides: explicit even when their value equals a
        # default (to_dict lists those as "explicit", so a saved file keeps them explicit)
        self._pinned: Set[str] = set()

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def for_profile(cls, profile: str = "default") -> "BenchmarkConfig":
        """A config holding the grids `profile` (quick | default | full) runs: the config grid with
        :data:`PROFILE_GRIDS` ``[profile]`` applied (``full``: the config grid itself)."""
        _check_profile(profile)
        config = cls(profile=profile)
        for section, values in PROFILE_GRIDS[profile].items():
            target = getattr(config, section)
            for name, value in values.items():
                setattr(target, name, copy.deepcopy(value))
        return config

    @classmethod
    def from_dict(cls, data: Dict[str, Any], profile: Optional[str] = None) -> "BenchmarkConfig":
        """Build a config from a (possibly partial) dict; unknown keys or wrong types raise ConfigError.

        The result holds the grids its profile (`profile` when given, else the dict's) runs: a value
        equal to its config-grid default or to the dict's profile's grid follows that profile; other
        values, and those its ``"explicit"`` list names, are explicit and kept.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"benchmark config must be a JSON object; got {type(data).__name__}")
        allowed = [f.name for f in fields(cls)] + [EXPLICIT_KEY]
        for key in data:
            if key not in allowed:
                raise ConfigError(f"unknown config key {key!r}; allowed: {', '.join(allowed)}")
        file_profile = _check_profile(data.get("profile", "default"), "profile")
        output_dir = data.get("output_dir", "benchmark_results")
        if not isinstance(output_dir, str) or not output_dir:
            raise ConfigError(f"output_dir must be a non-empty string; got {output_dir!r}")
        pinned = _checked_pins(data.get(EXPLICIT_KEY, []))
        explicit: Dict[str, Dict[str, Any]] = {}
        for section in (s for s in _SECTION_TYPES if s in data):
            for name, value in _checked_section(section, data[section]).items():
                if f"{section}.{name}" in pinned or not _follows_profile(section, name, value, file_profile):
                    explicit.setdefault(section, {})[name] = value
        result = cls.for_profile(profile or file_profile)
        result.output_dir = output_dir
        result.apply_overrides(explicit)
        return result

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "BenchmarkConfig":
        """Read a JSON file written by :meth:`save` (or a partial one); raise ConfigError when invalid."""
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"config file {path} is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_env(cls) -> "BenchmarkConfig":
        """The config the asv suite uses: the file at $AGENTMEMORY_BENCH_CONFIG (else the default
        profile's grids), with $AGENTMEMORY_BENCH_PROFILE (if set) replacing the profile of every
        non-explicit value."""
        path = os.environ.get(CONFIG_ENV, "").strip()
        config = cls.load(path) if path else cls.for_profile("default")
        profile = os.environ.get(PROFILE_ENV, "").strip()
        if profile:
            config = config.with_profile(_check_profile(profile, PROFILE_ENV))
        return config

    # ---- derived views ------------------------------------------------------------------------

    def resolved(self) -> "BenchmarkConfig":
        """A copy holding what this config runs: every value that follows the profile replaced by the
        profile's grid (``BenchmarkConfig().resolved() == BenchmarkConfig.for_profile("default")``)."""
        return self.with_profile(self.profile)

    def with_profile(self, profile: str) -> "BenchmarkConfig":
        """A copy switched to `profile`: values still equal to this profile's defaults take the new
        profile's grids, values changed by the user are kept."""
        return type(self).from_dict(self.to_dict(), profile=_check_profile(profile))

    def timing(self) -> Dict[str, Any]:
        """asv timing attributes for this profile: repeat, number, warmup_time, rounds, sample_time,
        timeout (set them on a benchmark class as-is), and track_samples for sampled tracks."""
        return dict(_PROFILE_TIMING[_check_profile(self.profile)])

    def category(self, name: str) -> Any:
        """The section dataclass of category `name` (e.g. ``config.category("storage")``)."""
        return getattr(self, require_category(name, CATEGORIES))

    def explicit_values(self) -> Dict[str, Dict[str, Any]]:
        """Per category, the explicit values: those equal neither to their config-grid default nor to
        this profile's grid (they run whatever the profile)."""
        out: Dict[str, Dict[str, Any]] = {}
        for section in _SECTION_TYPES:
            diff = {k: v for k, v in asdict(getattr(self, section)).items()
                    if f"{section}.{k}" in self._pinned or not _follows_profile(section, k, v, self.profile)}
            if diff:
                out[section] = diff
        return out

    def apply_overrides(self, overrides: Dict[str, Any], category: Optional[str] = None) -> "BenchmarkConfig":
        """Set fields in place from ``{section: {field: value}}`` (or ``{field: value}`` of `category`);
        validated like a loaded file. They are explicit from now on, even when equal to a default (a
        field assigned directly is explicit only when it equals neither default). Returns self."""
        if not isinstance(overrides, dict):
            raise ConfigError(f"overrides must be a JSON object; got {type(overrides).__name__}")
        if category is not None:
            self.category(category)
            overrides = {category: overrides}
        for section, values in overrides.items():
            if section not in _SECTION_TYPES:
                raise ConfigError(f"unknown config key {section!r}; valid categories: {', '.join(CATEGORIES)}")
            for name, value in _checked_section(section, values).items():
                setattr(getattr(self, section), name, value)
                self._pinned.add(f"{section}.{name}")
        return self

    def validate(self) -> "BenchmarkConfig":
        """Raise ConfigError naming the first invalid field; return self."""
        _check_profile(self.profile)
        for section in _SECTION_TYPES:
            for name, value in asdict(getattr(self, section)).items():
                _check_value(f"{section}.{name}", value)
        if not isinstance(self.output_dir, str) or not self.output_dir:
            raise ConfigError(f"output_dir must be a non-empty string; got {self.output_dir!r}")
        return self

    # ---- serialisation ------------------------------------------------------------------------

    def to_dict(self) -> Dict[str, Any]:
        """A JSON-ready dict of every field (sections as nested dicts), plus ``"explicit":
        ["section.field", ...]`` naming the values set through :meth:`apply_overrides` that equal a
        default (only when there are any, so other files stay readable by older versions)."""
        out = asdict(self)
        pins = sorted(key for key in self._pinned
                      if _follows_profile(*key.split("."), self._value(key), self.profile))
        if pins:
            out[EXPLICIT_KEY] = pins
        return out

    def _value(self, key: str) -> Any:
        section, name = key.split(".")
        return getattr(getattr(self, section), name)

    def save(self, path: Optional[Union[str, os.PathLike]] = None) -> str:
        """Write the config as JSON to `path` (default ``<output_dir>/benchmark_config.json``),
        creating directories; return the path written."""
        self.validate()
        target = Path(path) if path else Path(self.output_dir) / DEFAULT_CONFIG_FILENAME
        if target.parent and not target.parent.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return str(target)


__all__ = [
    "BenchmarkConfig", "StorageConfig", "CompressionConfig", "MemoryTransitionConfig", "RetrievalConfig",
    "ScalabilityConfig", "IntegrationConfig", "ImplementationsConfig", "CATEGORIES", "OPT_IN_CATEGORIES",
    "PROFILES", "PROFILE_GRIDS", "CONFIG_ENV", "PROFILE_ENV", "TRACK_SAMPLES_ENV", "POSTGRES_URL_ENV",
    "DEFAULT_POSTGRES_URL", "default_categories",
]
