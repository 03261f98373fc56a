"""MemoryConfig and the tier configs: plain dataclasses, validated when a system is built."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any, Optional, Sequence
from urllib.parse import unquote, unquote_plus, urlsplit

from .errors import ConfigError

BACKENDS = ("memory", "redis")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://", "redis+cluster://")
LTM_BACKENDS = ("sqlite", "postgres")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MASK = "***"
# a query parameter that carries a secret (?password=…, ?ssl_password=…, ?token=…), and its value: up to the
# next "&name=" (an unencoded '&' or '#' inside the value stays masked) or the end
_QUERY_SECRET = re.compile(r"([?&;][\w.-]*(?:pass|pwd|secret|token|auth)[\w.-]*=)(.*?)(?=&[\w.-]+=|$)",
                           re.IGNORECASE | re.DOTALL)


def _userinfo_span(url: str) -> Optional[tuple[int, int]]:
    """Where the credentials of `url` are: after '://' up to the last '@' before any secret query value.

    Conservative on purpose: a password holding an unencoded '/', '?', '#', '[' or '@' is still all masked."""
    start = url.find("://")
    start = 0 if start < 0 else start + 3
    if url.startswith("unix:///"):  # empty authority: no credentials before the socket path
        return None
    query = _QUERY_SECRET.search(url, start)
    at = url.rfind("@", start, query.start() if query else len(url))
    return (start, at) if at >= 0 else None


def redact(url: Any) -> str:
    """`url` with every password masked (userinfo and ?password= forms); never raises.

    The one masking function: every message, repr and skip reason that names a Redis URL goes through it."""
    text = str(url)
    span = _userinfo_span(text)
    if span is not None:
        start, at = span
        user, colon, _ = text[start:at].partition(":")
        shown = f"{user}:{MASK}" if colon and not any(c in user for c in "/?#[]@") else MASK
        text = text[:start] + shown + text[at:]
    return _QUERY_SECRET.sub(lambda m: m.group(1) + (MASK if m.group(2) else ""), text)


def url_secrets(url: Any) -> list[str]:
    """The secret strings of `url` as written and percent-decoded, longest first (to scrub other text)."""
    text = str(url)
    found = [m.group(2) for m in _QUERY_SECRET.finditer(text)]
    span = _userinfo_span(text)
    if span is not None:
        info = text[span[0]:span[1]]
        if ":" in info:
            found.append(info.partition(":")[2])
        elif not text.lower().startswith("postgres"):
            # a bare userinfo is a password to Redis clients; to libpq it is the user name, and
            # scrubbing it ('postgres') out of every message would garble the messages, not hide anything
            found.append(info)
    forms = {f for s in found for f in (s, unquote(s), unquote_plus(s)) if f}
    return sorted(forms, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """`text` (say, a driver's error message) with every secret (from `url_secrets`) replaced by the mask."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def check_redis_url(url: Any) -> None:
    """Raise ConfigError (URL masked) unless `url` is a Redis URL that parses as written.

    A '#', '[', ']', '/' or '?' left unencoded in a password makes URL parsers read part of the password
    as a fragment, host, port or query (so a wrong password, host or socket would be used): rejected."""
    _check_url("redis_url", url, REDIS_SCHEMES, "Redis clients")


def check_postgres_url(url: Any) -> None:
    """Raise ConfigError (URL masked) unless `url` is a PostgreSQL URL that parses as written (as for Redis)."""
    _check_url("ltm_url", url, POSTGRES_SCHEMES, "libpq", multi_host=True)


def _check_url(name: str, url: Any, schemes: Sequence[str], clients: str, multi_host: bool = False) -> None:
    """`check_redis_url` for the field `name` with URLs of `schemes`, read by `clients` (`multi_host`: libpq's
    host1:port1,host2:port2 form, which has no single port)."""
    if not isinstance(url, str) or not url.startswith(tuple(schemes)):
        raise ConfigError(f"{name} must start with {', '.join(schemes[:-1])} or {schemes[-1]}; "
                          f"got {redact(url)!r}")
    hint = ("percent-encode '#', '[', ']', '/', '?' and '@' in a user name or password "
            f"(%23, %5B, %5D, %2F, %3F, %40); got {redact(url)!r}")
    if "#" in url:
        raise ConfigError(f"{name} contains '#', which starts a URL fragment (ignored by {clients}): {hint}")
    try:
        parts = urlsplit(url)
        if not (multi_host and "," in parts.netloc):
            parts.port  # raises ValueError for a port that is not a number (often a piece of a password)
    except ValueError:
        raise ConfigError(f"{name} is not a valid URL: {hint}") from None
    misplaced_at = "@" in parts.path and not (parts.scheme == "unix" and not parts.netloc)
    if misplaced_at or any("@" in pair.partition("=")[0] for pair in re.split("[&;]", parts.query)):
        raise ConfigError(f"{name} has an '@' after its host part (a password holding '/' or '?'?): {hint}")


@dataclass
class STMConfig:
    """Short-term memory: recent memories at full resolution."""

    memory_limit: int = 1000
    ttl: float = 3600.0


@dataclass
class IMConfig:
    """Intermediate memory: lightly lossy content, a smaller embedding, a TTL."""

    memory_limit: int = 10000
    ttl: float = 86400.0
    float_precision: int = 4


@dataclass
class LTMConfig:
    """Long-term memory: highly compressed, persistent in SQLite."""

    db_path: Optional[str] = None  # None: a fresh file in a temporary directory per system
    memory_limit: Optional[int] = None  # None: unbounded
    float_precision: int = 2
    compression_level: int = 9


@dataclass
class AutoencoderConfig:
    """Embedding sizes per tier (must shrink tier by tier) and training settings."""

    stm_dim: int = 384
    im_dim: int = 128
    ltm_dim: int = 32
    learning_rate: float = 1e-3
    batch_size: int = 64
    seed: int = 0


@dataclass
class ImportanceWeights:
    """Weights of the retention score (see README, 'Retention score')."""

    priority: float = 1.0
    reward: float = 0.5
    novelty: float = 0.5
    retrieval: float = 0.25
    half_life_steps: float = 10000.0


@dataclass
class MemoryConfig:
    """Everything a system needs; defaults give an embedded, self-contained memory."""

    stm_config: STMConfig = field(default_factory=STMConfig)
    im_config: IMConfig = field(default_factory=IMConfig)
    ltm_config: LTMConfig = field(default_factory=LTMConfig)
    autoencoder_config: AutoencoderConfig = field(default_factory=AutoencoderConfig)
    cleanup_interval: int = 100
    discard_threshold: float = 0.1
    importance_weights: ImportanceWeights = field(default_factory=ImportanceWeights)
    backend: str = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_cluster: bool = False
    namespace: str = "agentmemory"
    blas_threads: Optional[int] = 1  # BLAS threads inside maintenance, training and large searches; None = leave as is
    redis_timeout: float = 5.0  # seconds to wait for each Redis reply before the call is retried (twice), then fails
    ltm_backend: str = "sqlite"  # "sqlite": ltm_config.db_path; "postgres": ltm_url, rows keyed by namespace
    ltm_url: str = "postgresql://127.0.0.1:5432/agentmemory"

    def __repr__(self) -> str:
        """The dataclass repr, with the Redis and PostgreSQL passwords masked (configs end up in logs and test reports)."""
        shown = ", ".join(f"{f.name}={redact(getattr(self, f.name))!r}" if f.name in ("redis_url", "ltm_url")
                          else f"{f.name}={getattr(self, f.name)!r}" for f in fields(self))
        return f"{type(self).__name__}({shown})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MemoryConfig":
        """Build a config from `to_dict()` output; unknown keys raise ConfigError."""
        return _from_dict(cls, data, "")

    def validate(self) -> "MemoryConfig":
        """Raise ConfigError naming the first invalid field; return self when all are valid."""
        _check_types(self, "")
        s, i, l, a, w = (self.stm_config, self.im_config, self.ltm_config,
                         self.autoencoder_config, self.importance_weights)
        _positive_int("stm_config.memory_limit", s.memory_limit)
        _positive_num("stm_config.ttl", s.ttl)
        _positive_int("im_config.memory_limit", i.memory_limit)
        _positive_num("im_config.ttl", i.ttl)
        _int_range("im_config.float_precision", i.float_precision, 1, 17)
        if l.memory_limit is not None:
            _positive_int("ltm_config.memory_limit", l.memory_limit)
        _int_range("ltm_config.float_precision", l.float_precision, 1, 17)
        _int_range("ltm_config.compression_level", l.compression_level, 0, 9)
        if l.db_path is not None and (not isinstance(l.db_path, str) or not l.db_path):
            raise ConfigError("ltm_config.db_path must be a non-empty path, ':memory:' or None")
        for name in ("stm_dim", "im_dim", "ltm_dim", "batch_size"):
            _positive_int(f"autoencoder_config.{name}", getattr(a, name))
        if not a.stm_dim > a.im_dim > a.ltm_dim:
            raise ConfigError(
                "autoencoder_config dims must shrink tier by tier: stm_dim > im_dim > ltm_dim, "
                f"got {a.stm_dim}, {a.im_dim}, {a.ltm_dim}")
        _positive_num("autoencoder_config.learning_rate", a.learning_rate)
        for name in ("priority", "reward", "novelty", "retrieval"):
            _non_negative("importance_weights." + name, getattr(w, name))
        _positive_num("importance_weights.half_life_steps", w.half_life_steps)
        _positive_int("cleanup_interval", self.cleanup_interval)
        _non_negative("discard_threshold", self.discard_threshold)
        if self.blas_threads is not None:
            _positive_int("blas_threads", self.blas_threads)
        if self.backend not in BACKENDS:
            raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}; got {self.backend!r}")
        if not isinstance(self.namespace, str) or not self.namespace or any(c in self.namespace for c in "{}: "):
            raise ConfigError("namespace must be a non-empty string without '{', '}', ':' or spaces; "
                              f"got {self.namespace!r}")
        _positive_num("redis_timeout", self.redis_timeout)
        if self.backend == "redis":
            check_redis_url(self.redis_url)
        if self.ltm_backend not in LTM_BACKENDS:
            raise ConfigError(f"ltm_backend must be one of {', '.join(LTM_BACKENDS)}; got {self.ltm_backend!r}")
        if self.ltm_backend == "postgres":
            check_postgres_url(self.ltm_url)
        return self


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number; got {value!r}")
    return value


def _positive_num(name: str, value: Any) -> None:
    if _number(name, value) <= 0:
        raise ConfigError(f"{name} must be > 0; got {value!r}")


def _non_negative(name: str, value: Any) -> None:
    if _number(name, value) < 0:
        raise ConfigError(f"{name} must be >= 0; got {value!r}")


def _int_range(name: str, value: Any, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an integer from {lo} to {hi}; got {value!r}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{name} must be a positive integer; got {value!r}")


def _check_types(obj: Any, prefix: str) -> None:
    for f in fields(obj):
        value = getattr(obj, f.name)
        if f.default_factory is not None and is_dataclass(f.default_factory):
            if not isinstance(value, f.default_factory):
                raise ConfigError(f"{prefix}{f.name} must be a {f.default_factory.__name__}; got {type(value).__name__}")
            _check_types(value, f"{prefix}{f.name}.")


def _from_dict(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be an object; got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"unknown config key {prefix}{key!r}; allowed: {', '.join(known)}")
        f = known[key]
        if f.default_factory is not None and is_dataclass(f.default_factory):
            kwargs[key] = _from_dict(f.default_factory, value, f"{prefix}{key}.")
        else:
            kwargs[key] = value
    return cls(**kwargs)
