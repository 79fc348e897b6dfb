import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import fsspec
import pytest
from conftest import folder_digest

from genforge import GenForgeError
from genforge.core.config import DebianSource, FileSource, UrlSource, WheelSource
from genforge.core.files import sha256_file
from genforge.core.sources import fetch, tree_digest


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def corpus(tmp_path):
    (tmp_path / "corpus" / "sub").mkdir(parents=True)
    (tmp_path / "corpus" / "a.txt").write_text("alpha\n")
    (tmp_path / "corpus" / "sub" / "b.txt").write_text("beta\n")
    (tmp_path / "corpus" / "sub" / "c.md").write_text("gamma\n")
    return tmp_path


def test_tree_digest_hand_computed():
    lines = "a.txt\t11\nb/c.txt\t22\n"
    assert tree_digest({"b/c.txt": "22", "a.txt": "11"}) == hashlib.sha256(lines.encode()).hexdigest()


def test_file_folder_and_glob(corpus):
    one = FileSource(name="one", kind="file", path="corpus/a.txt", sha256=sha256_file(corpus / "corpus/a.txt"))
    entries = fetch(one, corpus / "out1", root=corpus, attempts=1, timeout_s=1)
    assert [(e.source, e.path, e.bytes) for e in entries] == [("one", "one/a.txt", 6)]
    assert entries[0].sha256 == hashlib.sha256(b"alpha\n").hexdigest()

    folder = FileSource(name="all", kind="file", path="corpus", sha256=folder_digest(corpus / "corpus"))
    fetch(folder, corpus / "out2", root=corpus, attempts=1, timeout_s=1)
    assert _files(corpus / "out2") == {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n", "sub/c.md": b"gamma\n"}

    digest = tree_digest({"sub/b.txt": sha256_file(corpus / "corpus/sub/b.txt"),
                          "a.txt": sha256_file(corpus / "corpus/a.txt")})
    glob = FileSource(name="txt", kind="file", path="corpus/**/*.txt", sha256=digest)
    fetch(glob, corpus / "out3", root=corpus, attempts=1, timeout_s=1)
    assert _files(corpus / "out3") == {"a.txt": b"alpha\n", "sub/b.txt": b"beta\n"}


def test_sha256_mismatch_says_the_actual_digest(corpus):
    src = FileSource(name="one", kind="file", path="corpus/a.txt", sha256="0" * 64)
    actual = sha256_file(corpus / "corpus/a.txt")
    with pytest.raises(GenForgeError, match=f"sha256 mismatch.*set sha256: {actual}"):
        fetch(src, corpus / "out", root=corpus, attempts=1, timeout_s=1)


def test_missing_source_and_empty_glob(corpus):
    with pytest.raises(GenForgeError, match=r"collect.sources\[gone\]: path 'nowhere.txt' does not exist"):
        fetch(FileSource(name="gone", kind="file", path="nowhere.txt", sha256="0" * 64), corpus / "o1",
              root=corpus, attempts=1, timeout_s=1)
    with pytest.raises(GenForgeError, match="matched no files"):
        fetch(FileSource(name="none", kind="file", path="corpus/*.csv", sha256="0" * 64), corpus / "o2",
              root=corpus, attempts=1, timeout_s=1)


def test_fsspec_url(tmp_path):
    with fsspec.open("memory://bucket/text.txt", "wb") as f:
        f.write(b"to be or not to be\n")
    src = UrlSource(name="mem", kind="url", url="memory://bucket/text.txt",
                    sha256=hashlib.sha256(b"to be or not to be\n").hexdigest())
    entries = fetch(src, tmp_path / "mem", root=tmp_path, attempts=1, timeout_s=1)
    assert entries[0].path == "mem/text.txt" and (tmp_path / "mem/text.txt").read_bytes() == b"to be or not to be\n"
    with pytest.raises(GenForgeError, match="does not exist"):
        fetch(UrlSource(name="m2", kind="url", url="memory://bucket/missing.txt", sha256="0" * 64),
              tmp_path / "m2", root=tmp_path, attempts=1, timeout_s=1)


def test_network_reads_retry(tmp_path, monkeypatch):
    calls = []
    real_open = fsspec.open

    def flaky_open(url, *args, **kwargs):
        calls.append(url)
        if len(calls) < 3:
            raise ConnectionError("connection reset by peer")
        return real_open(url, *args, **kwargs)

    with fsspec.open("memory://flaky/t.txt", "wb") as f:
        f.write(b"x")
    monkeypatch.setattr("genforge.core.sources.fsspec.open", flaky_open)
    src = UrlSource(name="f", kind="url", url="memory://flaky/t.txt", sha256=hashlib.sha256(b"x").hexdigest())
    with pytest.raises(GenForgeError, match="could not read after 2 attempts.*connection reset"):
        fetch(src, tmp_path / "a", root=tmp_path, attempts=2, timeout_s=1)
    calls.clear()
    fetch(src, tmp_path / "b", root=tmp_path, attempts=3, timeout_s=1)
    assert len(calls) == 3


def test_wheel_members_by_glob(tmp_path):
    links = tmp_path / "links"
    links.mkdir()
    wheel = links / "demo_plays-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("demo_plays/__init__.py", "")
        zf.writestr("demo_plays/plays/comedy/one.md", "**A**  \nhi\n")
        zf.writestr("demo_plays/plays/tragedy/two.md", "**B**  \nho\n")
        zf.writestr("demo_plays-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo-plays\nVersion: 1.0\n")
        zf.writestr("demo_plays-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("demo_plays-1.0.dist-info/RECORD", "")
    src = WheelSource(name="w", kind="wheel", requirement="demo-plays==1.0", members="demo_plays/plays/**/*.md",
                      find_links=str(links), sha256=sha256_file(wheel))
    entries = fetch(src, tmp_path / "w", root=tmp_path, attempts=1, timeout_s=10)
    assert [e.path for e in entries] == ["w/demo_plays/plays/comedy/one.md", "w/demo_plays/plays/tragedy/two.md"]
    bad = src.model_copy(update={"sha256": "f" * 64})
    with pytest.raises(GenForgeError, match="sha256 mismatch"):
        fetch(bad, tmp_path / "w2", root=tmp_path, attempts=1, timeout_s=10)
    missing = src.model_copy(update={"requirement": "demo-plays==2.0"})
    with pytest.raises(GenForgeError, match="pip found no wheel"):
        fetch(missing, tmp_path / "w3", root=tmp_path, attempts=1, timeout_s=10)


def test_unknown_protocol_and_invalid_requirement(tmp_path):
    with pytest.raises(GenForgeError, match=r"collect.sources\[b\]: cannot read bogus://x/y.txt"):
        fetch(UrlSource(name="b", kind="url", url="bogus://x/y.txt", sha256="0" * 64), tmp_path / "b",
              root=tmp_path, attempts=3, timeout_s=1)
    src = WheelSource(name="w", kind="wheel", requirement="!!bad req", find_links=str(tmp_path), sha256="0" * 64)
    with pytest.raises(GenForgeError, match="is not a valid pip requirement"):
        fetch(src, tmp_path / "w", root=tmp_path, attempts=3, timeout_s=10)


needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (a Debian or Ubuntu machine)")


@pytest.fixture
def apt(tmp_path, monkeypatch):
    """A tiny real .deb (package demo-data 1.0-1) and a fake ``apt-get`` on PATH that hands it out."""
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "DEBIAN" / "control").write_text("Package: demo-data\nVersion: 1.0-1\nArchitecture: all\n"
                                            "Maintainer: Test <test@example.org>\nDescription: test data\n")
    (pkg / "usr/share/x/sub").mkdir(parents=True)
    (pkg / "usr/share/x/a.txt").write_text("alpha\n")
    (pkg / "usr/share/x/sub/b.txt").write_text("beta\n")
    (pkg / "usr/share/x/c.md").write_text("gamma\n")
    os.symlink("a.txt", pkg / "usr/share/x/link.txt")
    deb = tmp_path / "demo-data_1.0-1_all.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "--build", str(pkg), str(deb)], check=True,
                   capture_output=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "apt-get"
    fake.write_text(f"""#!/bin/sh
echo "$*" >> '{tmp_path / "apt-calls"}'
for last; do :; done
case " $* " in *" download "*) ;; *) echo "E: not a download: $*" >&2; exit 1;; esac
if [ "$last" = "demo-data=1.0-1" ]; then cp '{deb}' .; exit 0; fi
if [ "$last" = "flaky=1" ]; then echo "E: Failed to fetch http://deb.example/flaky_1_all.deb  Timeout" >&2; exit 100; fi
echo "E: Unable to locate package ${{last%%=*}}" >&2
exit 100
""")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return DebianSource(name="deb", kind="debian", package="demo-data", version="1.0-1",
                        members="usr/share/x/*.txt", sha256=sha256_file(deb))


@needs_dpkg
def test_debian_members_by_glob(tmp_path, apt):
    entries = fetch(apt, tmp_path / "deb", root=tmp_path, attempts=1, timeout_s=10)
    expected = {"usr/share/x/a.txt": b"alpha\n", "usr/share/x/sub/b.txt": b"beta\n"}  # not c.md, not link.txt
    assert _files(tmp_path / "deb") == expected
    assert not (tmp_path / "deb/usr/share/x/link.txt").exists()
    assert [(e.source, e.path, e.bytes, e.sha256) for e in entries] == [
        ("deb", f"deb/{rel}", len(data), hashlib.sha256(data).hexdigest()) for rel, data in sorted(expected.items())]


@needs_dpkg
def test_debian_refusals(tmp_path, apt):
    with pytest.raises(GenForgeError, match=rf"collect.sources\[deb\]: sha256 mismatch.*set sha256: {apt.sha256}"):
        fetch(apt.model_copy(update={"sha256": "0" * 64}), tmp_path / "d1", root=tmp_path, attempts=1, timeout_s=10)
    with pytest.raises(GenForgeError, match=r"apt has no 'nope=1.0-1'.*Unable to locate package nope.*"
                                            r"Run `apt-get update` first.*`apt-cache policy nope`"):
        fetch(apt.model_copy(update={"package": "nope"}), tmp_path / "d2", root=tmp_path, attempts=3, timeout_s=10)
    assert (tmp_path / "apt-calls").read_text().count("download nope=1.0-1") == 1  # not retried
    with pytest.raises(GenForgeError, match=r"apt-get download 'flaky=1' failed after 2 attempts: E: Failed to fetch"):
        fetch(apt.model_copy(update={"package": "flaky", "version": "1"}), tmp_path / "d4", root=tmp_path,
              attempts=2, timeout_s=10)
    assert (tmp_path / "apt-calls").read_text().count("download flaky=1") == 2
    with pytest.raises(GenForgeError, match=r"collect.sources\[deb\]: no member of demo-data_1.0-1_all.deb "
                                            r"matches '\*\*/\*.csv'"):
        fetch(apt.model_copy(update={"members": "**/*.csv"}), tmp_path / "d3", root=tmp_path, attempts=1,
              timeout_s=10)


@needs_dpkg
def test_debian_without_apt_get(tmp_path, apt, monkeypatch):
    only = tmp_path / "only-dpkg"
    only.mkdir()
    os.symlink(shutil.which("dpkg-deb"), only / "dpkg-deb")
    monkeypatch.setenv("PATH", str(only))
    with pytest.raises(GenForgeError, match=r"collect.sources\[deb\]: the debian source kind needs apt-get and "
                                            r"dpkg-deb \(a Debian or Ubuntu machine\); install them or use a `file`"):
        fetch(apt, tmp_path / "d", root=tmp_path, attempts=1, timeout_s=10)
