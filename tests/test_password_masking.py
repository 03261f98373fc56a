"""The Redis password never reaches a message: every URL form, every error path, the config's repr and
the benchmarks' skip reason (issue #10, defect 5)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import traceback
import uuid
from pathlib import Path
from urllib.parse import quote, unquote, unquote_plus

import pytest

from memory import AgentMemoryError, AgentMemorySystem, ConfigError, MemoryConfig, StorageError
from memory.config import redact
from redis_fixtures import free_port, start_redis_server

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Zq9sEcReT"  # every password below contains it


def _leaks(text: str, password: str) -> list[str]:
    """The forms of `password` (raw, percent-decoded, its secret core) that occur in `text`."""
    forms = {password, unquote(password), unquote_plus(password), SECRET}
    return [f for f in forms if f and f in text]


def _full_text(exc: BaseException) -> str:
    """The message and the whole traceback, causes and contexts included (what a log would show)."""
    return "".join(traceback.format_exception(exc)) + str(exc) + repr(exc)


# -- redact: the one masking function -----------------------------------------------------------------
@pytest.mark.parametrize("url, masked", [
    ("redis://user:pw-Zq9sEcReT@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://:Zq9sEcReT@host:6379/0", "redis://:***@host:6379/0"),
    ("rediss://user:Zq9sEcReT@host:6380/1", "rediss://user:***@host:6380/1"),
    ("redis+cluster://user:Zq9sEcReT@host:7000", "redis+cluster://user:***@host:7000"),
    ("redis://user:p%40ss%23Zq9sEcReT@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://:pa[Zq9sEcReT@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://:pa]Zq9sEcReT@host:6379/0", "redis://:***@host:6379/0"),
    ("redis://user:pa#Zq9sEcReT@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://user:pa/Zq9sEcReT@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://user:pa?Zq9sEcReT@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://user:p@Zq9sEcReT@host:6379/0", "redis://user:***@host:6379/0"),
    ("redis://Zq9sEcReT@host:6379/0", "redis://***@host:6379/0"),  # a lone userinfo may be a password
    ("redis://host:6379/0?password=Zq9sEcReT", "redis://host:6379/0?password=***"),
    ("redis://host:6379/0?db=2&password=Zq9sEcReT&socket_timeout=1",
     "redis://host:6379/0?db=2&password=***&socket_timeout=1"),
    ("redis://host:6379/0?password=a#Zq9sEcReT", "redis://host:6379/0?password=***"),
    ("redis://host/0?password=a@Zq9sEcReT", "redis://host/0?password=***"),
    ("unix:///tmp/redis.sock?password=Zq9sEcReT", "unix:///tmp/redis.sock?password=***"),
    ("unix:///tmp/redis.sock?db=1&password=Zq9sEcReT", "unix:///tmp/redis.sock?db=1&password=***"),
    ("unix://:Zq9sEcReT@/tmp/redis.sock", "unix://:***@/tmp/redis.sock"),
    ("http://user:Zq9sEcReT@host", "http://user:***@host"),
    ("user:Zq9sEcReT@host:6379", "user:***@host:6379"),
    ("redis://host:6379/0", "redis://host:6379/0"),  # nothing to mask
    ("unix:///tmp/a@b.sock", "unix:///tmp/a@b.sock"),  # an '@' in a socket path is no userinfo
])
def test_redact_masks_every_form(url, masked):
    assert redact(url) == masked
    assert not _leaks(redact(url), SECRET)


def test_redact_never_raises_and_masks_random_passwords():
    rng = random.Random(10)
    alphabet = "abcXYZ019:@/?#[]%+ !$'()*,;=~._-"
    for _ in range(3000):
        pw = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12))) + SECRET
        encoded = rng.random() < 0.5
        shown = quote(pw, safe="") if encoded else pw
        query_pw = shown.replace("&", "")  # an unencoded '&' ends a query value for every URL parser
        for url in (f"redis://user:{shown}@h:6379/0", f"rediss://:{shown}@h:1/2", f"redis://{shown}@h",
                    f"redis://h:6379/0?password={query_pw}", f"unix:///tmp/s.sock?db=0&password={query_pw}",
                    f"redis+cluster://u:{shown}@h:7000", f"unix://:{shown}@/tmp/s.sock"):
            out = redact(url)
            assert not _leaks(out, shown), (url, out)
    assert redact(None) == "None" and redact(12) == "12"  # type: ignore[arg-type]


def test_config_repr_masks_the_password():
    config = MemoryConfig(backend="redis", redis_url=f"redis://user:{SECRET}@host:6379/0")
    assert SECRET not in repr(config) and "redis://user:***@host:6379/0" in repr(config)
    assert SECRET in config.to_dict()["redis_url"]  # the data itself is untouched


# -- every error path -----------------------------------------------------------------------------------
def _unreachable_urls() -> list[tuple[str, str]]:
    """(url, password as written) for URLs whose server does not exist; each must fail without the secret."""
    port = free_port()
    sock = f"/tmp/agentmemory-missing-{uuid.uuid4().hex[:8]}.sock"
    pct = quote(f"p@ss/#[{SECRET}]", safe="")
    return [
        (f"redis://user:{SECRET}@127.0.0.1:{port}/0", SECRET),
        (f"redis://:{SECRET}@127.0.0.1:{port}/0", SECRET),
        (f"redis://user:{pct}@127.0.0.1:{port}/0", pct),
        (f"rediss://user:{SECRET}@127.0.0.1:{port}/0", SECRET),
        (f"redis+cluster://user:{SECRET}@127.0.0.1:{port}", SECRET),
        (f"redis://127.0.0.1:{port}/0?password={SECRET}", SECRET),
        (f"redis://127.0.0.1:{port}/0?db=0&password={quote('a&b=' + SECRET, safe='')}", quote('a&b=' + SECRET, safe='')),
        (f"unix://{sock}?password={SECRET}", SECRET),
        (f"unix://:{SECRET}@{sock}", SECRET),
        # URL-parse failures and misparses: a '[', ']', '#', '/' or '?' left unencoded in the password
        (f"redis://:pa[{SECRET}@127.0.0.1:{port}/0", f"pa[{SECRET}"),
        (f"redis://:pa]{SECRET}@127.0.0.1:{port}/0", f"pa]{SECRET}"),
        (f"redis://user:pa#{SECRET}@127.0.0.1:{port}/0", f"pa#{SECRET}"),
        (f"redis://:{SECRET}#@127.0.0.1:{port}/0", f"{SECRET}#"),
        (f"redis://user:pa/{SECRET}@127.0.0.1:{port}/0", f"pa/{SECRET}"),
        (f"redis://:{SECRET}/x@127.0.0.1:{port}/0", f"{SECRET}/x"),
        (f"redis://user:pa?{SECRET}@127.0.0.1:{port}/0", f"pa?{SECRET}"),
        (f"redis://:123?{SECRET}@127.0.0.1:{port}/0", f"123?{SECRET}"),
        (f"redis://:{SECRET}?x=1@127.0.0.1:{port}/0", f"{SECRET}?x=1"),
        (f"redis://127.0.0.1:{port}/0?password=a#{SECRET}", f"a#{SECRET}"),
        (f"redis://user:{SECRET}@127.0.0.1:notaport/0", SECRET),
        (f"unix://:p/{SECRET}@{sock}", f"p/{SECRET}"),
        (f"http://user:{SECRET}@127.0.0.1:{port}/0", SECRET),  # the ConfigError for a bad scheme
        (f"redis://user:{SECRET}@127.0.0.1:{port}/0?no_such_option=1", SECRET),
    ]


@pytest.mark.parametrize("url, password", _unreachable_urls())
def test_errors_never_show_the_password(url, password):
    config = MemoryConfig(backend="redis", redis_url=url, namespace="mask")
    with pytest.raises(AgentMemoryError) as err:
        AgentMemorySystem(config)
    assert isinstance(err.value, (StorageError, ConfigError))
    text = _full_text(err.value)
    assert not _leaks(text, password), text
    assert "***" in str(err.value), str(err.value)  # it names the (masked) URL


def test_misencoded_passwords_are_config_errors():
    port = free_port()
    for url in (f"redis://user:pa#{SECRET}@127.0.0.1:{port}/0", f"redis://:pa[{SECRET}@127.0.0.1:{port}/0",
                f"redis://:123?{SECRET}@127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/0?password=a#{SECRET}"):
        with pytest.raises(ConfigError, match="percent-encode"):
            MemoryConfig(backend="redis", redis_url=url).validate()
    MemoryConfig(backend="redis", redis_url="redis://[::1]:6379/0").validate()  # an IPv6 host is fine
    MemoryConfig(backend="redis", redis_url="unix:///tmp/a@b.sock").validate()
    MemoryConfig(backend="redis", redis_url=f"redis://h/0?password=p@{SECRET}").validate()


# -- a live server with a password ----------------------------------------------------------------------
@pytest.fixture
def password_server():
    """A redis-server of this test's own whose default user needs `p@ss/#[SECRET]` (set after start)."""
    import redis
    server = start_redis_server()
    password = f"p@ss/#[{SECRET}]"
    client = redis.Redis.from_url(server.url)
    client.config_set("requirepass", password)
    client.close()
    try:
        yield server, password
    finally:
        server.stop()


@pytest.mark.redis
def test_encoded_password_connects_and_errors_stay_masked(password_server):
    server, password = password_server
    pct = quote(password, safe="")
    for url in (f"redis://default:{pct}@127.0.0.1:{server.port}/0",
                f"redis://127.0.0.1:{server.port}/0?password={pct}"):
        with AgentMemorySystem(MemoryConfig(backend="redis", redis_url=url, namespace="maskok")) as system:
            mid = system.store_agent_state("a", {"x": 1}, 0)
            assert system.retrieve_state(mid)["content"] == {"x": 1}
            assert not _leaks(system.stm.store.url, pct)
            system.clear_all_memories()
    wrong = quote(f"wrong-{SECRET}", safe="")
    for url in (f"redis://default:{wrong}@127.0.0.1:{server.port}/0",
                f"redis://127.0.0.1:{server.port}/0?password={wrong}"):
        with pytest.raises(StorageError) as err:
            AgentMemorySystem(MemoryConfig(backend="redis", redis_url=url))
        assert not _leaks(_full_text(err.value), wrong), _full_text(err.value)
        assert f"127.0.0.1:{server.port}" in str(err.value)


@pytest.mark.redis
def test_errors_after_connecting_stay_masked(password_server):
    server, password = password_server
    pct = quote(password, safe="")
    url = f"redis://default:{pct}@127.0.0.1:{server.port}/0"
    system = AgentMemorySystem(MemoryConfig(backend="redis", redis_url=url, namespace="maskdrop", redis_timeout=0.3))
    try:
        mid = system.store_agent_state("a", {"x": 1}, 0)
        server.stop()
        for call in (lambda: system.store_agent_state("a", {"x": 2}, 1), lambda: system.retrieve_state(mid),
                     lambda: system.force_memory_maintenance("a"), lambda: system.get_memory_statistics("a")):
            with pytest.raises(StorageError) as err:
                call()
            text = _full_text(err.value)
            assert not _leaks(text, pct), text
            assert "redis://default:***@127.0.0.1" in str(err.value)
    finally:
        system.close()


# -- the benchmarks' skip reason ------------------------------------------------------------------------
def test_benchmark_skip_reason_masks_the_password():
    port = free_port()
    code = "from benchmarks.backends import redis_backend_status; print(redis_backend_status())"
    for url in (f"redis://user:{SECRET}@127.0.0.1:{port}/0", f"redis://127.0.0.1:{port}/0?password={SECRET}",
                f"redis://:pa#{SECRET}@127.0.0.1:{port}/0"):
        env = dict(os.environ, AGENTMEMORY_BENCH_REDIS_URL=url)
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert "False" in out.stdout and SECRET not in out.stdout + out.stderr, out.stdout + out.stderr


def test_a_postgres_user_name_is_not_scrubbed_out_of_messages():
    """libpq reads a bare userinfo as the user name: scrubbing it made 'postgresql://postgres@…: timeout'
    read '***ql://***@…' (and user 'u' turned 'timeout' into 'timeo***t'); a password still goes."""
    from memory.config import scrub, url_secrets

    message = "connection to postgresql://u@127.0.0.1:1/test failed: timeout"
    assert scrub(message, url_secrets("postgresql://u@127.0.0.1:1/test")) == message
    assert "s3cret" not in scrub("auth s3cret refused", url_secrets("postgresql://u:s3cret@h/db"))
    assert "tok" not in scrub("bad tok", url_secrets("redis://tok@127.0.0.1:6379/0"))  # Redis: a password
