"""Build the offline HTML template of ``dvc plots show``: Vega, Vega-Lite and Vega-Embed inlined from pinned npm
packages, so that the plots draw with no network.

DVC's own page loads the three libraries from a CDN (``dvc_render.vega``) and stays blank offline. A template given
by ``dvc plots show --html-template FILE``, or by the ``plots.html_template`` setting in ``.dvc/config`` (a path
relative to ``.dvc/``), replaces it: DVC puts the plots where the template says ``{plot_divs}`` (DVC docs, *plots
show*, "--html-template"). The versions are the ones DVC's page asks the CDN for.

Each package's tarball comes from the npm registry (``npm_config_registry``, else https://registry.npmjs.org/), is
checked against the registry's sha512 integrity pinned here, and its minified build is checked against a pinned
sha256 before it is inlined::

    .venv/bin/python tools/vega_template.py            # writes tools/dvc-plots-offline.html
    .venv/bin/python tools/vega_template.py --check    # exit 1 unless the committed template has the pinned builds
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import os
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

from genforge.core.files import atomic_path

TEMPLATE = Path(__file__).with_name("dvc-plots-offline.html")
# (package, version, npm dist.integrity of the tarball, member inlined, sha256 of that member)
PINS = [
    ("vega", "5.20.2",
     "sha512-qmH7aD9GGPpssVdxL1xgcdxTbQzyRUeRR16Os385ymvQhiwCYQNA6+eXUPAZDTVLfk0RXu6Jzj6kUE5jQ80EVw==",
     "package/build/vega.min.js", "4794d0169cb1f3ebad8117fe98ba5bd652dd725905ec0384e832391dbccb03be"),
    ("vega-lite", "5.2.0",
     "sha512-Yxcg8MvYfxHcG6BbkaKT0oVCIMIcE19UvqIsEwBmyd/7h2nzW7oRnID81T8UrY7hpDrIr6wa2JADOT2dhGNErw==",
     "package/build/vega-lite.min.js", "d73157451b3978015ab31dacd55ff90d986ab8663fc0abed50f97b3cd90002cb"),
    ("vega-embed", "6.18.2",
     "sha512-wcDyQPE4J5aiCDc3/suH5RQDvrKkjuLkhzUcbOLwEkNF8/+pp17tS0JghzEvAPNRg+5aG1/N2ydixq8Lk3dOlg==",
     "package/build/vega-embed.min.js", "1ba9826431ddc9805e815ad92acc811c819f2bfd32bda2a128b8c4b5070fab5e"),
]
PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>DVC plots (offline)</title>
<!-- Built by tools/vega_template.py from the npm packages {packages} (BSD-3-Clause, University of Washington
     Interactive Data Lab): no script is loaded from the network. -->
{scripts}
<style>table {{ border-spacing: 15px; }}</style>
</head>
<body>
{{plot_divs}}
</body>
</html>
"""
SCRIPT = '<script data-package="{name}@{version}" data-sha256="{sha256}">\n{code}\n</script>'


def fetch(name: str, version: str, integrity: str, timeout_s: float = 120) -> bytes:
    """The tarball of ``name@version`` from the npm registry, checked against its ``integrity`` (``sha512-<base64>``,
    npm's ``dist.integrity``).

    Raises:
        ValueError: the download does not match ``integrity``.
        OSError: the registry cannot be reached (``urllib.error.URLError``).
    """
    registry = os.environ.get("npm_config_registry", "https://registry.npmjs.org/").rstrip("/")
    url = f"{registry}/{name}/-/{name.rsplit('/', 1)[-1]}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 (a configured https registry)
        data = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        raise ValueError(f"{url}: integrity {digest} is not the pinned {integrity}; fix the pin in {__file__}")
    return data


def member(tarball: bytes, path: str, sha256: str) -> str:
    """The text of ``path`` in a ``.tgz``, checked against ``sha256``.

    Raises:
        KeyError: the tarball has no ``path``.
        ValueError: the member does not match ``sha256``, or holds ``</script`` (it could not be inlined).
    """
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        data = tar.extractfile(path).read()
    if hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{path}: sha256 {hashlib.sha256(data).hexdigest()} is not the pinned {sha256}")
    code = data.decode("utf-8")
    if "</script" in code.lower():
        raise ValueError(f"{path} contains '</script' and cannot be inlined in a <script> element")
    return code


def build() -> str:
    """The template's HTML, from the registry (:func:`fetch`, :func:`member`)."""
    scripts = [SCRIPT.format(name=name, version=version, sha256=sha, code=member(fetch(name, version, integrity),
                                                                                  path, sha))
               for name, version, integrity, path, sha in PINS]
    packages = ", ".join(f"{name}@{version}" for name, version, *_ in PINS)
    return PAGE.format(packages=packages, scripts="\n".join(scripts))


def inlined(html: str) -> dict[str, str]:
    """``{"name@version": sha256 of the inlined code}`` of a built template (its ``<script data-package>``
    elements; the digest is recomputed from the code)."""
    found = re.findall(r'<script data-package="([^"]+)" data-sha256="[0-9a-f]+">\n(.*?)\n</script>', html, re.S)
    return {package: hashlib.sha256(code.encode("utf-8")).hexdigest() for package, code in found}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=TEMPLATE, help="where to write the template")
    parser.add_argument("--check", action="store_true", help="only check that --out inlines the pinned builds")
    args = parser.parse_args(argv)
    if args.check:
        want = {f"{name}@{version}": sha for name, version, _, _, sha in PINS}
        got = inlined(args.out.read_text(encoding="utf-8"))
        if got != want:
            print(f"{args.out}: inlines {got}, not the pinned {want}; rebuild it", file=sys.stderr)
            return 1
        return 0
    html = build()
    with atomic_path(args.out) as tmp:
        tmp.write_text(html, encoding="utf-8")
    print(f"{args.out}: {len(html.encode()):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
