"""BenchmarkConfig: the parameter grids of every benchmark category, per profile, as JSON.

The asv suite (``benchmarks/common.py``) reads it with :meth:`BenchmarkConfig.from_env`; the CLI and
:class:`~memory.benchmarking.runner.BenchmarkRunner` hand it to asv through the environment variable
``AGENTMEMORY_BENCH_CONFIG`` (a path to a file written by :meth:`BenchmarkConfig.save`).

Profiles (``quick`` | ``default`` | ``full``) set the grid sizes and asv's timing (repeat, number,
warmup). A value in a config file that differs from its profile's default is *explicit* and wins over
any profile; every other value follows the profile, which ``AGENTMEMORY_BENCH_PROFILE`` overrides.
"""

from __future__ import annotations

import copy
import json
import math
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Type, Union

from memory.errors import ConfigError

CONFIG_ENV = "AGENTMEMORY_BENCH_CONFIG"
PROFILE_ENV = "AGENTMEMORY_BENCH_PROFILE"
PROFILES = ("quick", "default", "full")
CATEGORIES = ("storage", "compression", "memory_transition", "retrieval", "scalability", "integration")
DEFAULT_CONFIG_FILENAME = "benchmark_config.json"


@dataclass
class StorageConfig:
    """Storage benchmarks: write batch sizes, state complexity levels, read samples per measurement."""

    batch_sizes: List[int] = field(default_factory=lambda: [10, 100, 1000, 10000])
    data_complexity_levels: List[int] = field(default_factory=lambda: [1, 5, 10])
    num_samples: int = 100


@dataclass
class CompressionConfig:
    """Compression benchmarks: training-set sizes, embedding dimensions, autoencoder epochs."""

    dataset_sizes: List[int] = field(default_factory=lambda: [1000, 5000])
    target_dimensions: List[int] = field(default_factory=lambda: [16, 32, 64])
    training_iterations: int = 50


@dataclass
class MemoryTransitionConfig:
    """Transition benchmarks: importance thresholds and the retention score's weights."""

    transition_thresholds: List[float] = field(default_factory=lambda: [0.3, 0.5, 0.7])
    importance_weights: Dict[str, float] = field(
        default_factory=lambda: {"priority": 1.0, "reward": 0.5, "novelty": 0.5, "retrieval": 0.25})


@dataclass
class RetrievalConfig:
    """Retrieval benchmarks: stored memories, queries per run, embedding sizes, similarity cut-offs."""

    dataset_size: int = 5000
    query_counts: List[int] = field(default_factory=lambda: [10, 100])
    vector_dimensions: List[int] = field(default_factory=lambda: [32, 128])
    similarity_thresholds: List[float] = field(default_factory=lambda: [0.6, 0.7, 0.8])


@dataclass
class ScalabilityConfig:
    """Scalability benchmarks: number of agents, memories held, concurrent workers."""

    agent_counts: List[int] = field(default_factory=lambda: [1, 4, 16])
    memory_sizes: List[int] = field(default_factory=lambda: [1000, 10000])
    parallel_operations: List[int] = field(default_factory=lambda: [1, 4])


@dataclass
class IntegrationConfig:
    """Integration benchmarks: operations per measurement and concurrent API clients."""

    operations_per_test: int = 500
    concurrent_clients: List[int] = field(default_factory=lambda: [1, 4])


_SECTION_TYPES = {
    "storage": StorageConfig,
    "compression": CompressionConfig,
    "memory_transition": MemoryTransitionConfig,
    "retrieval": RetrievalConfig,
    "scalability": ScalabilityConfig,
    "integration": IntegrationConfig,
}

# Grids that differ from the dataclass defaults (which are the "default" profile).
_PROFILE_GRIDS: Dict[str, Dict[str, Dict[str, Any]]] = {
    "quick": {
        "storage": {"batch_sizes": [10, 100], "data_complexity_levels": [1], "num_samples": 20},
        "compression": {"dataset_sizes": [200], "target_dimensions": [16], "training_iterations": 5},
        "memory_transition": {"transition_thresholds": [0.5]},
        "retrieval": {"dataset_size": 300, "query_counts": [10], "vector_dimensions": [32],
                      "similarity_thresholds": [0.7]},
        "scalability": {"agent_counts": [1, 2], "memory_sizes": [100, 300], "parallel_operations": [2]},
        "integration": {"operations_per_test": 50, "concurrent_clients": [1, 2]},
    },
    "default": {},
    "full": {
        "storage": {"num_samples": 1000},
        "compression": {"dataset_sizes": [1000, 10000, 50000], "target_dimensions": [16, 32, 64, 128],
                        "training_iterations": 200},
        "memory_transition": {"transition_thresholds": [0.1, 0.3, 0.5, 0.7, 0.9]},
        "retrieval": {"dataset_size": 50000, "query_counts": [10, 100, 1000],
                      "vector_dimensions": [32, 64, 128, 256],
                      "similarity_thresholds": [0.5, 0.6, 0.7, 0.8, 0.9]},
        "scalability": {"agent_counts": [1, 4, 16, 64], "memory_sizes": [1000, 10000, 100000],
                        "parallel_operations": [1, 4, 16]},
        "integration": {"operations_per_test": 5000, "concurrent_clients": [1, 4, 16]},
    },
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
# "int" positive int, "weights" dict of str -> non-negative number.
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


@dataclass
class BenchmarkConfig:
    """Grids for every benchmark category, the results directory and the profile."""

    storage: StorageConfig = field(default_factory=StorageConfig)
    compression: CompressionConfig = field(default_factory=CompressionConfig)
    memory_transition: MemoryTransitionConfig = field(default_factory=MemoryTransitionConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    scalability: ScalabilityConfig = field(default_factory=ScalabilityConfig)
    integration: IntegrationConfig = field(default_factory=IntegrationConfig)
    output_dir: str = "benchmark_results"
    profile: str = "default"

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def for_profile(cls, profile: str = "default") -> "BenchmarkConfig":
        """A config holding the default grids of `profile` (quick | default | full)."""
        _check_profile(profile)
        config = cls(profile=profile)
        for section, values in _PROFILE_GRIDS[profile].items():
            target = getattr(config, section)
            for name, value in values.items():
                setattr(target, name, copy.deepcopy(value))
        return config

    @classmethod
    def from_dict(cls, data: Dict[str, Any], profile: Optional[str] = None) -> "BenchmarkConfig":
        """Build a config from a (possibly partial) dict; unknown keys or wrong types raise ConfigError.

        Values equal to the profile's defaults follow `profile` when given (explicit values win).
        """
        if not isinstance(data, dict):
            raise ConfigError(f"benchmark config must be a JSON object; got {type(data).__name__}")
        allowed = [f.name for f in fields(cls)]
        for key in data:
            if key not in allowed:
                raise ConfigError(f"unknown config key {key!r}; allowed: {', '.join(allowed)}")
        file_profile = _check_profile(data.get("profile", "default"), "profile")
        output_dir = data.get("output_dir", "benchmark_results")
        if not isinstance(output_dir, str) or not output_dir:
            raise ConfigError(f"output_dir must be a non-empty string; got {output_dir!r}")
        base = cls.for_profile(file_profile)
        explicit: Dict[str, Dict[str, Any]] = {}
        for section in (s for s in _SECTION_TYPES if s in data):
            for name, value in _checked_section(section, data[section]).items():
                if value != getattr(getattr(base, section), name):
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
        """The config the asv suite uses: the file at $AGENTMEMORY_BENCH_CONFIG (else defaults), with
        $AGENTMEMORY_BENCH_PROFILE (if set) replacing the profile of every non-explicit value."""
        path = os.environ.get(CONFIG_ENV, "").strip()
        config = cls.load(path) if path else cls()
        profile = os.environ.get(PROFILE_ENV, "").strip()
        if profile:
            config = config.with_profile(_check_profile(profile, PROFILE_ENV))
        return config

    # ---- derived views ------------------------------------------------------------------------

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
        """Per category, the values that differ from this profile's defaults."""
        base = type(self).for_profile(self.profile)
        out: Dict[str, Dict[str, Any]] = {}
        for section in _SECTION_TYPES:
            mine, theirs = asdict(getattr(self, section)), asdict(getattr(base, section))
            diff = {k: v for k, v in mine.items() if v != theirs[k]}
            if diff:
                out[section] = diff
        return out

    def apply_overrides(self, overrides: Dict[str, Any], category: Optional[str] = None) -> "BenchmarkConfig":
        """Set fields in place from ``{section: {field: value}}`` (or ``{field: value}`` of `category`);
        validated like a loaded file. Returns self."""
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
        """A JSON-ready dict of every field (sections as nested dicts)."""
        return asdict(self)

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
    "ScalabilityConfig", "IntegrationConfig", "CATEGORIES", "PROFILES", "CONFIG_ENV", "PROFILE_ENV",
]
