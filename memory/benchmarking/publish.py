"""``cli publish`` and ``cli preview``: asv's dashboard as a self-contained site that works offline.

asv's pages load jQuery, flot, bootstrap, md5 and stupidtable from CDNs; without internet they show
only "Can not determine continental origin of swallow". :func:`publish` runs ``asv publish`` for
the project's asv.conf.json, then :func:`localize_site` points every CDN ``<script>``/``<link>`` at a
copy under the site's ``vendor/`` (the copies ship with this package in ``static/asv_site``: see its
README for versions, sources and licences) and writes a twin ``X.json.js`` of each data file, so the
pages also read their data when opened as a file (browsers refuse XMLHttpRequest on file:// pages;
``agentmemory-offline.js`` loads the twins there). :func:`preview` serves the site on 127.0.0.1.
"""

from __future__ import annotations

import errno
import http.server
import os
import re
import shutil
import signal
import subprocess
import sys
import webbrowser
from functools import partial
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional

from memory.config import redact, scrub, url_secrets
from memory.errors import ConfigError

from . import asv_adapter
from .asvrun import ERROR_LINE

STATIC_DIR = Path(__file__).resolve().parent / "static" / "asv_site"
OFFLINE_SCRIPT = "agentmemory-offline.js"
DEFAULT_PORT = 8080
PUBLISH_TIMEOUT_SECONDS = 900
PUBLISH_HINT = "python -m memory.benchmarking.cli publish"


class PublishError(Exception):
    """No results to publish, asv failed, no published site to serve, or the port is taken."""


class Vendored(NamedTuple):
    """A library the asv site loads from a CDN, as shipped under ``STATIC_DIR``."""

    file: str  # under vendor/
    package: str  # the npm package (``npm pack NAME@VERSION``) it comes from
    source: str  # its path in that package
    licence: str  # under LICENSES/
    same_bytes: bool  # byte for byte the CDN's file (asv's integrity hash holds)


_CDNJS = "https://cdnjs.cloudflare.com/ajax/libs"
_FLOT_FILES = ("jquery.flot", "jquery.flot.time", "jquery.flot.selection", "jquery.flot.categories")

#: asv 0.6's CDN URLs (``asv/www/index.html``) -> the vendored copy. flot's npm package has no
#: minified files: those four are its sources minified with terser 5 (licence headers kept).
#: stupidtable 1.0.1 is not on npm; 1.1.3 (same ``$.fn.stupidtable`` API) stands in for it.
VENDORED: Dict[str, Vendored] = {
    "https://code.jquery.com/jquery-3.3.1.min.js":
        Vendored("jquery-3.3.1.min.js", "jquery@3.3.1", "dist/jquery.min.js", "jquery.txt", True),
    **{f"{_CDNJS}/flot/0.8.3/{name}.min.js": Vendored(f"{name}.min.js", "flot@0.8.3", f"{name}.js", "flot.txt", False)
       for name in _FLOT_FILES},
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        Vendored("jquery.flot.orderBars.js", "flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js",
                 "flot-orderbars.txt", True),
    f"{_CDNJS}/stupidtable/1.0.1/stupidtable.min.js":
        Vendored("stupidtable.min.js", "stupid-table-plugin@1.1.3", "stupidtable.min.js", "stupid-table-plugin.txt",
                 False),
    f"{_CDNJS}/blueimp-md5/2.19.0/js/md5.min.js":
        Vendored("md5.min.js", "blueimp-md5@2.19.0", "js/md5.min.js", "blueimp-md5.txt", True),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        Vendored("bootstrap.min.js", "bootstrap@3.1.1", "dist/js/bootstrap.min.js", "bootstrap.txt", True),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        Vendored("bootstrap.min.css", "bootstrap@3.1.1", "dist/css/bootstrap.min.css", "bootstrap.txt", True),
}

_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_EXTERNAL = re.compile(r'\b(?:src|href)="((?:https?:)?//[^"]+)"', re.IGNORECASE)
# attributes that only make sense for a CDN copy (an integrity check on a file:// script fails: no CORS)
_CDN_ATTRIBUTES = re.compile(r'\s(?:integrity|crossorigin|referrerpolicy)="[^"]*"', re.IGNORECASE)
_ASV_PREFIX = re.compile(r"^\[\s*[\d.]+%\]\s*[·.]+\s*")  # asv's "[ 50.00%] · " before its log lines
_ANY_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>|]+")


# ---- the site -------------------------------------------------------------------------------


def external_urls(html: str) -> List[str]:
    """The URLs that `html`'s ``<script>`` and ``<link>`` tags load from another host, in order."""
    return [found.group(1) for tag in _TAG.finditer(html) for found in [_EXTERNAL.search(tag.group(0))] if found]


def _localize_page(text: str, static: Path, vendor_dir: Path, missing: List[str]) -> str:
    """`text` with every vendored CDN tag pointing at ``vendor/`` (the file copied there) and the
    offline script loaded before ``</head>``; URLs without a vendored copy go to `missing`."""

    def local(tag: re.Match) -> str:
        found = _EXTERNAL.search(tag.group(0))
        if not found:
            return tag.group(0)
        entry = VENDORED.get(found.group(1))
        if entry is None:
            missing.append(found.group(1))
            return tag.group(0)
        shutil.copy2(static / "vendor" / entry.file, vendor_dir / entry.file)
        return _CDN_ATTRIBUTES.sub("", tag.group(0).replace(found.group(1), f"vendor/{entry.file}"))

    text = _TAG.sub(local, text)
    if OFFLINE_SCRIPT not in text and "vendor/jquery" in text:
        text = text.replace("</head>", f'<script src="{OFFLINE_SCRIPT}"></script>\n  </head>', 1)
    return text


def write_data_twins(html_dir: Path) -> int:
    """Write ``X.json.js`` (``asvOfflineData(<X.json>);``) beside every ``X.json`` of the site, for
    the pages opened as files; return how many."""
    count = 0
    for data in html_dir.rglob("*.json"):
        text = data.read_text(encoding="utf-8")
        data.with_name(data.name + ".js").write_text(f"asvOfflineData({text});\n", encoding="utf-8")
        count += 1
    return count


def localize_site(html_dir: os.PathLike, static: os.PathLike = STATIC_DIR) -> List[str]:
    """Make the published site in `html_dir` self-contained: its CDN libraries served from
    ``vendor/`` (copies from `static`), its data readable from file:// pages. Idempotent. Returns the
    external URLs left because no copy is vendored (empty when the site needs no network)."""
    html_dir, static = Path(html_dir), Path(static)
    vendor_dir = html_dir / "vendor"
    vendor_dir.mkdir(exist_ok=True)
    missing: List[str] = []
    for page in sorted(html_dir.glob("*.html")):
        text = page.read_text(encoding="utf-8")
        localized = _localize_page(text, static, vendor_dir, missing)
        if localized != text:
            page.write_text(localized, encoding="utf-8")
    shutil.copy2(static / OFFLINE_SCRIPT, html_dir / OFFLINE_SCRIPT)
    write_data_twins(html_dir)
    return sorted(set(missing))


# ---- publish --------------------------------------------------------------------------------


def html_dir_of(project: asv_adapter.AsvProject) -> Path:
    """Absolute path of the project's published site (asv.conf.json ``html_dir``, default ``html``)."""
    return (project.root / project.conf.get("html_dir", "html")).resolve()


def mask_secrets(text: str, urls: List[Optional[str]]) -> str:
    """`text` with the secrets of `urls` (the asv repo, the bench Redis URL) and the password of any
    URL in it masked."""
    text = scrub(text, [secret for url in urls if url for secret in url_secrets(url)])
    return _ANY_URL.sub(lambda m: redact(m.group(0)), text)


def _load_project() -> asv_adapter.AsvProject:
    try:
        return asv_adapter.load_project()
    except ConfigError as exc:
        raise PublishError(str(exc)) from None


def _has_results(project: asv_adapter.AsvProject) -> bool:
    return any(p.name != "machine.json" for p in project.results_dir.glob("*/*.json"))


def _run_asv_publish(project: asv_adapter.AsvProject) -> None:
    """``asv publish`` of `project`; PublishError (one line, secrets masked) when it fails."""
    cmd = [sys.executable, "-m", "asv", "publish", "--config", str(project.conf_path)]
    secrets = [str(project.conf.get("repo", "")), os.environ.get("AGENTMEMORY_BENCH_REDIS_URL")]
    try:
        proc = subprocess.run(cmd, cwd=str(project.root), capture_output=True, text=True,
                              timeout=PUBLISH_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        raise PublishError(f"asv publish exceeded {PUBLISH_TIMEOUT_SECONDS} s") from None
    except OSError as exc:
        raise PublishError(f"cannot run asv publish: {exc}") from None
    if proc.returncode != 0:
        raise PublishError(mask_secrets(f"asv publish failed (exit {proc.returncode}): "
                                        + " | ".join(_asv_errors(proc.stdout + "\n" + proc.stderr)), secrets))


def _asv_errors(output: str) -> List[str]:
    """The lines of asv's `output` that say what went wrong (its "Error ..." lines, a command's
    "fatal:"/"error:" lines, the exception), at most three; else its last three lines."""
    lines = [_ASV_PREFIX.sub("", line).strip() for line in output.splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if line.startswith(("Error", "fatal:", "error:")) or ERROR_LINE.match(line)]
    return list(dict.fromkeys(errors))[:3] or lines[-3:] or ["no output"]


def publish(say: Callable[[str], None] = print) -> Path:
    """``asv publish`` for the project's asv.conf.json ($AGENTMEMORY_ASV_CONFIG, else found from the
    working directory), then :func:`localize_site`; returns the site's ``index.html``."""
    project = _load_project()
    if not _has_results(project):
        raise PublishError(f"no asv results to publish in {project.results_dir} (run `python -m "
                           f"memory.benchmarking.cli run` or `asv run` first)")
    html_dir = html_dir_of(project)
    say(f"asv publish: {project.results_dir} -> {html_dir}")
    _run_asv_publish(project)
    missing = localize_site(html_dir)
    if missing:
        raise PublishError(f"published {html_dir}, but it still loads {', '.join(missing)} from the internet "
                           f"(no copy in {STATIC_DIR}; see its README)")
    return html_dir / "index.html"


def open_in_browser(index: Path, say: Callable[[str], None] = print) -> None:
    """Open the site's `index` page in the default web browser (or say where it is)."""
    if not webbrowser.open(index.resolve().as_uri()):
        say(f"no web browser found; open {index.resolve().as_uri()}")


# ---- preview --------------------------------------------------------------------------------


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Static files, without a log line per request."""

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def serve(html_dir: Path, port: int, host: str = "127.0.0.1") -> http.server.ThreadingHTTPServer:
    """A static HTTP server of `html_dir` bound to `host`:`port` (0: any free port), not yet serving."""
    try:
        return http.server.ThreadingHTTPServer((host, port), partial(_QuietHandler, directory=str(html_dir)))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PublishError(f"port {port} on {host} is in use (choose another with --port)") from None
        raise PublishError(f"cannot serve on {host}:{port}: {exc.strerror or exc}") from None


def _stop_on_signals() -> Dict[int, object]:
    """Make Ctrl-C (SIGINT) and SIGTERM stop the server, even where it was started with SIGINT
    ignored (a shell's background job), where Python would not raise KeyboardInterrupt; the
    handlers it replaced, to put back."""
    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    replaced: Dict[int, object] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            replaced[sig] = signal.signal(sig, stop)
        except ValueError:  # not the main thread: the caller handles its own signals
            break
    return replaced


def preview(port: int = DEFAULT_PORT, say: Callable[[str], None] = print) -> int:
    """Serve the published site on 127.0.0.1:`port` until Ctrl-C; 0 when stopped."""
    html_dir = html_dir_of(_load_project())
    if not (html_dir / "index.html").is_file():
        raise PublishError(f"no published site in {html_dir} (run `{PUBLISH_HINT}` first)")
    missing = localize_site(html_dir)  # a site made by plain `asv publish` works offline too
    if missing:
        print(f"warning: the site still loads {', '.join(missing)} from the internet", file=sys.stderr)
    server = serve(html_dir, port)
    host, bound = server.server_address[:2]
    say(f"serving {html_dir} at http://{host}:{bound}/ (Ctrl-C stops)")
    sys.stdout.flush()
    replaced = _stop_on_signals()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        say("stopped")
    finally:
        server.server_close()
        for sig, handler in replaced.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
    return 0
