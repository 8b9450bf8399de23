"""Finding, fetching and listing pretrained weight files.

Lookup order for a weight file: the ``weights=`` argument (a file, or a
folder holding it), the ``EMBEDCLF_WEIGHTS`` folder, the user cache
(``$XDG_CACHE_HOME/embedclf`` or ``~/.cache/embedclf``), then an installed
``openl3`` package. Nothing is downloaded implicitly: :func:`fetch_openl3`
(``embedclf weights fetch openl3``) downloads a ``.h5.gz`` file (at most
:data:`OPENL3_MAX_BYTES`, never following a redirect from https to a weaker
scheme), checks its SHA-256 and unpacks it atomically, recording the
digests next to it so a damaged file is noticed and fetched again.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from itertools import product

from .exceptions import WeightsNotFoundError
from .files import atomic_write_data, sha256_file

__all__ = [
    "WeightsNotFoundError",
    "cache_dir",
    "find_openl3",
    "fetch_openl3",
    "list_weights",
    "OPENL3_BASE_URL",
    "OPENL3_SHA256",
    "OPENL3_MAX_BYTES",
    "INPUT_REPRS",
    "CONTENT_TYPES",
    "weights_filename",
]

#: OpenL3's input representations and content types: one weight file each
#: (:mod:`embedclf.features.openl3_net` builds the networks they fit).
INPUT_REPRS = ("linear", "mel128", "mel256")
CONTENT_TYPES = ("music", "env")

OPENL3_BASE_URL = "https://github.com/marl/openl3/raw/models/"
OPENL3_VERSION = "v0_4_0"

#: SHA-256 of the official ``.h5.gz`` files. Only the digests recorded here
#: are trusted; for any other file, fetching stops after the download and
#: prints the digest it got, to be checked and passed as ``sha256=`` (or
#: the command line's ``--sha256``). The one entry was recorded from the published file by
#: another project and could not be re-checked from this machine (no network).
OPENL3_SHA256 = {
    "openl3_audio_mel256_music-v0_4_0.h5.gz": (
        "e379f41e880b78e157c199ebddac80d3764e6a46282bcccdbe875bcf538f9afd"
    ),
}


#: Largest download, and largest unpacked file, :func:`fetch_openl3` accepts (bytes). The
#: official ``.h5.gz`` files are under 20 MB and unpack to about 19 MB; anything much larger
#: is not a weight file (or is a decompression bomb).
OPENL3_MAX_BYTES = 64 * 2**20

#: suffix of the record written next to an installed file: its SHA-256 and its source's
_RECORD = ".sha256.json"


def weights_filename(input_repr, content_type):
    """Official file name: ``openl3_audio_<input_repr>_<content_type>.h5``.

    Examples
    --------
    >>> from embedclf.weights import weights_filename
    >>> weights_filename("mel256", "music")
    'openl3_audio_mel256_music.h5'
    """
    if input_repr not in INPUT_REPRS:
        raise ValueError(f"input_repr must be one of {INPUT_REPRS}, got {input_repr!r}")
    if content_type not in CONTENT_TYPES:
        raise ValueError(f"content_type must be one of {CONTENT_TYPES}, got {content_type!r}")
    return f"openl3_audio_{input_repr}_{content_type}.h5"


def cache_dir():
    """The user cache folder for weights (``$XDG_CACHE_HOME/embedclf`` or ``~/.cache/embedclf``).

    Examples
    --------
    >>> from embedclf.weights import cache_dir
    >>> cache_dir().endswith("embedclf")
    True
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "embedclf")


def _openl3_package_dir():
    spec = importlib.util.find_spec("openl3")
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _usable(path):
    """A real file with content (openl3 installed offline leaves empty placeholders)."""
    return os.path.isfile(path) and os.path.getsize(path) > 0


def _places(weights):
    places = []
    if weights is not None:
        places.append(("weights argument", os.fspath(weights)))
    if os.environ.get("EMBEDCLF_WEIGHTS"):
        places.append(("EMBEDCLF_WEIGHTS", os.environ["EMBEDCLF_WEIGHTS"]))
    places.append(("user cache", cache_dir()))
    pkg = _openl3_package_dir()
    if pkg:
        places.append(("installed openl3 package", pkg))
    return places


def find_openl3(input_repr, content_type, weights=None):
    """Path of ``openl3_audio_<input_repr>_<content_type>.h5``.

    Parameters
    ----------
    input_repr : {"linear", "mel128", "mel256"}
    content_type : {"music", "env"}
    weights : str or path-like, optional
        A weight file, or a folder holding the official file name.

    Returns
    -------
    str

    Raises
    ------
    WeightsNotFoundError
        Names the file, every place searched, and the command that fetches it.

    Examples
    --------
    >>> from embedclf.weights import find_openl3
    >>> find_openl3("mel256", "music", weights="/nowhere")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    embedclf.exceptions.WeightsNotFoundError: OpenL3 weights not found at /nowhere (the weights...
    """
    name = weights_filename(input_repr, content_type)
    if weights is not None:  # an explicit choice is never silently replaced by another file
        place = os.fspath(weights)
        path = os.path.join(place, name) if os.path.isdir(place) else place
        if not _usable(path):
            raise WeightsNotFoundError(
                f"OpenL3 weights not found at {path} (the weights "
                f"argument); {_fetch_hint(input_repr, content_type)}"
            )
        _check_name(path, input_repr, content_type)
        return path
    searched = []
    for label, place in _places(None):
        candidate = os.path.join(place, name)
        if _usable(candidate):
            return candidate
        searched.append(f"{candidate} ({label})")
    raise WeightsNotFoundError(
        f"OpenL3 weights {name} not found; looked in: {'; '.join(searched)}. "
        f"{_fetch_hint(input_repr, content_type)} (or pass weights=PATH, or set "
        f"EMBEDCLF_WEIGHTS to a folder holding {name})"
    )


def _gz_name(input_repr, content_type):
    return f"{weights_filename(input_repr, content_type)[:-3]}-{OPENL3_VERSION}.h5.gz"


def _fetch_hint(input_repr, content_type):
    call = f"embedclf.weights.fetch_openl3({input_repr!r}, {content_type!r}"
    if _gz_name(input_repr, content_type) not in OPENL3_SHA256:
        call += (
            ", sha256=DIGEST) (no digest is recorded for this file: take it from a trusted source)"
        )
    else:
        call += ")"
    return f"Fetch them with: {call}"


def _check_name(path, input_repr, content_type):
    """Refuse an official file name of another configuration (same shapes, wrong weights)."""
    import re

    m = re.fullmatch(r"openl3_audio_(linear|mel128|mel256)_(music|env)\.h5", os.path.basename(path))
    if m and (m.group(1), m.group(2)) != (input_repr, content_type):
        raise ValueError(
            f"{path} holds the {m.group(1)}/{m.group(2)} weights, but "
            f"input_repr={input_repr!r}, content_type={content_type!r} was asked for"
        )


class _NoDowngradeRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, except from https to anything weaker (http, ftp)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = urllib.parse.urljoin(req.full_url, newurl)
        if (
            urllib.parse.urlsplit(req.full_url).scheme.lower() == "https"
            and urllib.parse.urlsplit(new).scheme.lower() != "https"
        ):
            raise urllib.error.HTTPError(
                req.full_url,
                code,
                f"refused a redirect from https to {new} (a weaker "
                "scheme); use a mirror served over https",
                headers,
                fp,
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _too_large(what, size):
    return ValueError(
        f"{what} is larger than OPENL3_MAX_BYTES ({OPENL3_MAX_BYTES} bytes, "
        f"embedclf.weights.OPENL3_MAX_BYTES){size}; it is not an OpenL3 weight "
        "file; nothing installed"
    )


def _download(url, dest, progress):
    """Stream ``url`` to ``dest`` with a progress bar, returning the SHA-256.

    At most :data:`OPENL3_MAX_BYTES`: a larger announced length is refused
    before reading, a longer body when it passes the limit.
    """
    digest = hashlib.sha256()
    cap = OPENL3_MAX_BYTES
    opener = urllib.request.build_opener(_NoDowngradeRedirects())
    with opener.open(url, timeout=60) as resp:
        total = int(resp.headers.get("Content-Length") or 0) or None
        if total is not None and total > cap:
            raise _too_large(url, f": it announces {total} bytes")
        return _stream(resp, dest, digest, total, cap, url, progress)


def _stream(resp, dest, digest, total, cap, url, progress):
    size = 0
    with open(dest, "wb") as out:
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total, unit="B", unit_scale=True, desc=os.path.basename(url))
        while True:
            chunk = resp.read(1 << 20)
            if not chunk:
                break
            size += len(chunk)
            if size > cap:
                if bar is not None:
                    bar.close()
                raise _too_large(url, "")
            digest.update(chunk)
            out.write(chunk)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
    return digest.hexdigest()


def fetch_openl3(
    input_repr="mel256",
    content_type="music",
    dest=None,
    *,
    base_url=None,
    sha256=None,
    progress=True,
    force=False,
    allow_unverified=False,
):
    """Download one official OpenL3 weight file, verify it, unpack it atomically.

    Parameters
    ----------
    input_repr : {"linear", "mel128", "mel256"}, default="mel256"
    content_type : {"music", "env"}, default="music"
    dest : str, optional
        Folder to unpack into (default :func:`cache_dir`).
    base_url : str, optional
        Where the ``.h5.gz`` files live (default the official location).
    sha256 : str, optional
        Expected SHA-256 of the ``.h5.gz``; default the recorded one in
        :data:`OPENL3_SHA256`. Without either, nothing is installed.
    progress : bool, default=True
    force : bool, default=False
        Download even when the file is already there. Without it, a file
        already there is kept only if it still has the SHA-256 recorded
        when it was installed (in ``<name>.sha256.json`` beside it) and came
        from the expected ``.h5.gz``; otherwise (damaged, or with no record
        to check while a digest is known) it is fetched again, with a note
        on stderr.
    allow_unverified : bool, default=False
        Install a file that has no recorded or given SHA-256, printing its
        digest (trust on first use, explicitly asked for).

    Returns
    -------
    str
        Path of the unpacked ``.h5`` file.

    Raises
    ------
    ValueError
        The checksum differs, or there is none to check against (the message
        gives the digest of what was downloaded); the download or the
        unpacked file is larger than :data:`OPENL3_MAX_BYTES`.
    OSError
        The download failed (the message names the URL), including a
        redirect from https to a weaker scheme, which is refused.

    Examples
    --------
    >>> from embedclf.weights import fetch_openl3
    >>> fetch_openl3("mel256", "music")  # doctest: +SKIP
    '/home/me/.cache/embedclf/openl3_audio_mel256_music.h5'
    """
    name = weights_filename(input_repr, content_type)
    gz_name = _gz_name(input_repr, content_type)
    dest = dest or cache_dir()
    target = os.path.join(dest, name)
    expected = (sha256 or OPENL3_SHA256.get(gz_name) or "").lower() or None
    problem = None
    if _usable(target) and not force:
        problem = _installed_problem(target, expected)
        if problem is None:
            return target
    if expected is None and not allow_unverified:  # say so before downloading
        raise ValueError(
            (f"{target} {problem}. " if problem else "")
            + f"{gz_name}: no SHA-256 is recorded for this file, so it cannot be verified. Pass "
            "sha256=DIGEST from a trusted source, or allow_unverified=True to install it and "
            "print its digest"
        )
    if problem:
        print(f"embedclf: {target} {problem}; fetching it again", file=sys.stderr)
    os.makedirs(dest, exist_ok=True)
    url = (base_url or OPENL3_BASE_URL).rstrip("/") + "/" + gz_name
    with tempfile.TemporaryDirectory(dir=dest, prefix=".fetch-") as tmp:
        gz_path = os.path.join(tmp, gz_name)
        try:
            got = _download(url, gz_path, progress)
        except OSError as exc:
            raise OSError(f"download of {url} failed: {exc}") from exc
        if expected is None:
            print(
                f"embedclf: installed {gz_name} unverified; its SHA-256 is {got}", file=sys.stderr
            )
            expected = got
        if got != expected:
            raise ValueError(
                f"{url}: SHA-256 mismatch (expected {expected}, got {got}); "
                "the download is corrupt or not the official file; nothing installed"
            )
        h5_tmp = os.path.join(tmp, name)
        try:
            h5_digest = _gunzip(gz_path, h5_tmp, gz_name)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{gz_name}: not a valid gzip file ({exc})") from None
        os.replace(h5_tmp, target)  # same filesystem: atomic
        # after the file: a crash between the two leaves a mismatch, so a re-fetch
        atomic_write_data(
            target + _RECORD,
            json.dumps({"sha256": h5_digest, "source": gz_name, "source_sha256": got}, indent=2)
            + "\n",
        )
    return target


def _gunzip(gz_path, out_path, gz_name):
    """Unpack at most OPENL3_MAX_BYTES, returning the SHA-256 of what was written."""
    digest, size = hashlib.sha256(), 0
    with gzip.open(gz_path, "rb") as src, open(out_path, "wb") as out:
        while chunk := src.read(1 << 20):
            size += len(chunk)
            if size > OPENL3_MAX_BYTES:
                raise _too_large(f"{gz_name} unpacked", "")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _installed_problem(target, expected):
    """Why an installed file cannot be kept (None: it can), from its record beside it."""
    try:
        with open(target + _RECORD, encoding="utf-8") as fh:
            record = json.load(fh)
        recorded, source = str(record["sha256"]), str(record["source_sha256"]).lower()
    except (OSError, ValueError, KeyError, TypeError):
        # no record (installed by hand or by an older version): nothing to check it against
        return None if expected is None else "has no record of its SHA-256 to verify it"
    if sha256_file(target) != recorded:  # not memoised: a damaged file may keep size and mtime
        return "is damaged (its SHA-256 differs from the one recorded when it was installed)"
    if expected is not None and source != expected:
        return f"was unpacked from another file (SHA-256 {source}, expected {expected})"
    return None


def list_weights(weights=None):
    """Which OpenL3 weight files are present, and where.

    Returns
    -------
    pandas.DataFrame
        Columns ``model, input_repr, content_type, path, size_mb`` (path
        empty when missing).

    Examples
    --------
    >>> from embedclf.weights import list_weights
    >>> list(list_weights().columns)
    ['model', 'input_repr', 'content_type', 'path', 'size_mb']
    """
    import pandas as pd

    rows = []
    for repr_, content in product(INPUT_REPRS, CONTENT_TYPES):
        try:
            path = find_openl3(repr_, content, weights)
            size = round(os.path.getsize(path) / 1e6, 1)
        except WeightsNotFoundError:
            path, size = "", None
        rows.append(("openl3", repr_, content, path, size))
    return pd.DataFrame(rows, columns=["model", "input_repr", "content_type", "path", "size_mb"])
