"""``cli publish`` / ``cli preview``: asv's dashboard as a self-contained site, drawn offline in
headless Chromium from file:// and from the preview server; the vendored libraries and their licences;
the one-line errors."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from asv_helpers import chromium_offline
from memory.benchmarking import cli
from memory.benchmarking.publish import OFFLINE_SCRIPT, STATIC_DIR, VENDORED, external_urls, localize_site, mask_secrets

from .conftest import REPO, chromium, run_cli
from .toy_suite import make_toy_project

ASV_WWW = Path(__import__("asv").__file__).parent / "www"
CLI = ["python", "-m", "memory.benchmarking.cli"]
SWALLOW = "continental origin of swallow"


def _asv_integrity(url: str) -> str:
    """The ``integrity`` attribute asv's index.html gives the tag loading `url`."""
    tag = next(t for t in re.findall(r"<(?:script|link)\b[^>]*>", (ASV_WWW / "index.html").read_text())
               if f'"{url}"' in t)
    return re.search(r'integrity="([^"]+)"', tag).group(1)


def _sri(path: Path, algorithm: str) -> str:
    return f"{algorithm}-" + base64.b64encode(hashlib.new(algorithm, path.read_bytes()).digest()).decode()


# ---- the vendored libraries ----------------------------------------------------------------


def test_every_cdn_url_of_asv_has_a_vendored_copy_with_its_licence():
    urls = external_urls((ASV_WWW / "index.html").read_text(encoding="utf-8"))
    assert len(urls) >= 10 and set(urls) <= set(VENDORED), set(urls) - set(VENDORED)
    shipped = {p.name for p in (STATIC_DIR / "vendor").iterdir()}
    assert shipped == {entry.file for entry in VENDORED.values()}, "a stray or missing file in vendor/"
    assert sum((STATIC_DIR / "vendor" / name).stat().st_size for name in shipped) < 400_000
    readme = (STATIC_DIR / "README.md").read_text(encoding="utf-8")
    for url, entry in VENDORED.items():
        licence = (STATIC_DIR / "LICENSES" / entry.licence).read_text(encoding="utf-8")
        assert "MIT" in licence or "Permission is hereby granted, free of charge" in licence, entry.licence
        assert entry.package in readme and entry.file in readme, f"{entry.file} is not in the README table"
        integrity = _asv_integrity(url)
        same = _sri(STATIC_DIR / "vendor" / entry.file, integrity.split("-", 1)[0]) == integrity
        assert same == entry.same_bytes, f"{entry.file}: same_bytes says {entry.same_bytes}, the hash {same}"


def test_the_package_data_ships_the_site_files():
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    globs = json.loads(re.search(r'"memory.benchmarking" = (\[.*?\])', text).group(1))
    base = Path(__file__).resolve().parents[2] / "memory" / "benchmarking"
    covered = {p for g in globs for p in base.glob(g) if p.is_file()}
    assert covered == {p for p in STATIC_DIR.rglob("*") if p.is_file()}


# ---- localize_site ----------------------------------------------------------------------------


def _raw_site(folder: Path) -> Path:
    """asv's www files plus a little data, as ``asv publish`` leaves them (CDN URLs in the pages)."""
    shutil.copytree(ASV_WWW, folder)
    (folder / "graphs" / "summary").mkdir(parents=True)
    (folder / "index.json").write_text('{"project": "t"}')
    (folder / "graphs" / "summary" / "a b.json").write_text("[[1, 2.5]]")
    return folder


def test_localize_site_serves_every_library_from_the_site(tmp_path):
    site = _raw_site(tmp_path / "html")
    assert localize_site(site) == []
    index = (site / "index.html").read_text(encoding="utf-8")
    assert external_urls(index) == [] and "integrity=" not in index and "crossorigin=" not in index
    for entry in VENDORED.values():
        assert f'"vendor/{entry.file}"' in index
        assert (site / "vendor" / entry.file).read_bytes() == (STATIC_DIR / "vendor" / entry.file).read_bytes()
    assert index.count(OFFLINE_SCRIPT) == 1 and (site / OFFLINE_SCRIPT).is_file()
    assert index.index(OFFLINE_SCRIPT) > index.index("vendor/jquery-3.3.1.min.js")
    assert (site / "graphs" / "summary" / "a b.json.js").read_text() == "asvOfflineData([[1, 2.5]]);\n"
    assert (site / "index.json.js").read_text() == 'asvOfflineData({"project": "t"});\n'
    assert localize_site(site) == [] and (site / "index.html").read_text(encoding="utf-8") == index


def test_localize_site_names_a_cdn_url_it_has_no_copy_of(tmp_path):
    site = _raw_site(tmp_path / "html")
    page = site / "index.html"
    page.write_text(page.read_text().replace("jquery-3.3.1.min.js", "jquery-9.9.9.min.js"))
    assert localize_site(site) == ["https://code.jquery.com/jquery-9.9.9.min.js"]
    assert "https://code.jquery.com/jquery-9.9.9.min.js" in page.read_text()


def test_mask_secrets():
    text = "git clone https://bench:s3cr%40t@host/x.git failed; redis://:pw0rd@r:6379/0; s3cr@t"
    masked = mask_secrets(text, ["https://bench:s3cr%40t@host/x.git"])
    assert "s3cr" not in masked and "pw0rd" not in masked and masked.count("***") == 3


# ---- one-line errors ---------------------------------------------------------------------------


@pytest.fixture()
def bare_project(tmp_path, monkeypatch):
    """An asv.conf.json without results or site, selected with $AGENTMEMORY_ASV_CONFIG."""
    conf = tmp_path / "asv.conf.json"
    conf.write_text(json.dumps({"version": 1, "project": "p", "repo": ".", "results_dir": "results",
                                "html_dir": "html"}))
    monkeypatch.setenv("AGENTMEMORY_ASV_CONFIG", str(conf))
    return tmp_path


def _one_line_error(capsys, argv, message):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_publish_without_results_is_one_line(bare_project, capsys):
    _one_line_error(capsys, ["publish"], "no asv results to publish in")


def test_preview_without_a_site_is_one_line(bare_project, capsys):
    _one_line_error(capsys, ["preview"], "no published site in")


def test_preview_on_a_port_in_use_is_one_line(bare_project, capsys):
    _raw_site(bare_project / "html")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _one_line_error(capsys, ["preview", "--port", str(port)], f"port {port} on 127.0.0.1 is in use")
    _one_line_error(capsys, ["preview", "--port", "70000"], "--port must be between 0 and 65535")


@pytest.mark.asv
def test_asv_failure_is_one_line_with_the_password_masked(bare_project, capsys):
    conf = bare_project / "asv.conf.json"
    conf.write_text(json.dumps({**json.loads(conf.read_text()), "repo": "https://bench:s3cr3t@127.0.0.1:9/p.git"}))
    (bare_project / "results" / "machine").mkdir(parents=True)
    (bare_project / "results" / "machine" / "abc-py.json").write_text("{}")
    _one_line_error(capsys, ["publish"], "asv publish failed (exit 1): Error running ")
    assert "s3cr3t" not in capsys.readouterr().err


# ---- a real asv history, published and drawn offline ----------------------------------------


def _subprocess_env(conf: Path) -> dict:
    """The CLI in a subprocess: this checkout's package, the toy project."""
    return {"AGENTMEMORY_ASV_CONFIG": str(conf), "AGENTMEMORY_BENCH_PROFILE": "quick", "TOY_FAIL": "",
            "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    """The toy suite's storage benchmarks measured by asv on two commits, then ``cli publish``:
    (asv.conf.json, env, the published index.html)."""
    conf = make_toy_project(tmp_path_factory.mktemp("publish") / "toy")
    root, env = conf.parent, _subprocess_env(conf)
    run_cli(["python", "-m", "asv", "machine", "--yes"], root, env, timeout=120)
    for n in range(2):
        if n:
            subprocess.run(["git", "-C", str(root), "-c", "user.name=t", "-c", "user.email=t@localhost",
                            "commit", "-q", "--allow-empty", "-m", "second"], check=True)
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        proc = run_cli(["python", "-m", "asv", "run", "--python=same", "--set-commit-hash", head,
                        "--bench", "^storage"], root, env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    proc = run_cli(CLI + ["publish"], root, env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    index = root / ".asv" / "html" / "index.html"
    assert f"dashboard: {index}" in proc.stdout
    return conf, env, index


@pytest.mark.asv
@pytest.mark.slow
def test_published_site_loads_nothing_from_the_internet(history):
    _, _, index = history
    for page in index.parent.glob("*.html"):
        assert external_urls(page.read_text(encoding="utf-8")) == [], page
    assert len(json.loads((index.parent / "index.json").read_text())["revision_to_hash"]) == 2


@pytest.mark.asv
@pytest.mark.slow
def test_publish_open_opens_the_index(history, monkeypatch, capsys):
    conf, _, index = history
    opened = []
    monkeypatch.setenv("AGENTMEMORY_ASV_CONFIG", str(conf))
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    assert cli.main(["publish", "--open"]) == 0, capsys.readouterr().err
    assert opened == [index.as_uri()]


def _browser() -> str:
    browser = chromium()
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return browser


def _assert_dashboard_drawn(browser: str, url: str, tmp_path: Path) -> None:
    """The grid and one benchmark's graph at `url`, rendered with no network: drawn, no asv error."""
    grid = chromium_offline(browser, url, tmp_path / "profile", "--dump-dom", size="1400,3000").stdout
    assert SWALLOW not in grid and "Error fetching content" not in grid
    assert grid.count('class="btn benchmark-container"') >= 3, "no benchmark grid"
    assert grid.count("flot-base") >= 2, "the grid's summary graphs were not drawn"
    graph = chromium_offline(browser, f"{url}#storage.WriteThroughput.time_store_loop", tmp_path / "profile",
                             "--dump-dom").stdout
    assert "flot-base" in graph and graph.count("flot-tick-label") >= 4, "the benchmark graph was not drawn"
    shot = tmp_path / "graph.png"
    chromium_offline(browser, f"{url}#storage.WriteThroughput.time_store_loop", tmp_path / "profile",
                     f"--screenshot={shot}")
    import matplotlib.image as mpimg

    image = mpimg.imread(str(shot))[:, :, :3]
    assert (image.min(axis=2) < 0.95).mean() > 0.02, "the screenshot is blank"
    plot = image[220:780, 260:1380]  # the plot area below the legend (1400x900 window); the page is grey
    assert ((plot.max(axis=2) - plot.min(axis=2)) > 0.3).sum() > 500, "no coloured series drawn"


@pytest.mark.browser
@pytest.mark.slow
def test_raw_asv_site_fails_offline_in_this_browser(tmp_path):
    """The control: asv's own pages under the same flags show the swallow error (the network is cut)."""
    site = _raw_site(tmp_path / "raw")
    dom = chromium_offline(_browser(), (site / "index.html").as_uri(), tmp_path / "profile", "--dump-dom").stdout
    assert SWALLOW in dom


@pytest.mark.asv
@pytest.mark.browser
@pytest.mark.slow
def test_published_site_draws_offline_from_file(history, tmp_path):
    _assert_dashboard_drawn(_browser(), history[2].as_uri(), tmp_path)


@pytest.mark.asv
@pytest.mark.browser
@pytest.mark.slow
def test_preview_serves_the_site_and_stops_on_ctrl_c(history, tmp_path):
    browser = _browser()
    conf, env, _ = history
    proc = subprocess.Popen([sys.executable, "-m", "memory.benchmarking.cli", "preview", "--port", "0"],
                            cwd=str(conf.parent), env=dict(os.environ, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+/) \(Ctrl-C stops\)", line)
        assert found, f"preview printed {line!r}"
        _assert_dashboard_drawn(browser, found.group(1), tmp_path)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out, err


@pytest.mark.asv
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_preview_stops_on_ctrl_c_or_sigterm_even_started_with_sigint_ignored(history, sig):
    """A shell's background job starts with SIGINT ignored, and Python then never raises
    KeyboardInterrupt: the preview installs its own handlers, so Ctrl-C (or SIGTERM) still stops it."""
    conf, env, _ = history
    proc = subprocess.Popen([sys.executable, "-m", "memory.benchmarking.cli", "preview", "--port", "0"],
                            cwd=str(conf.parent), env=dict(os.environ, **env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert "(Ctrl-C stops)" in proc.stdout.readline()
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "stopped" in out, err
