"""Small file utilities every layer may use: atomic writes and per-file memos.

Nothing here imports the rest of the package, so audio, features, models and
the command line can all rely on it without breaking the one-way layering.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

__all__ = ["atomic_write", "atomic_write_data", "file_state", "memo_by_file", "file_digest"]


def atomic_write(path, write):
    """Write a file atomically: ``write(tmp_path)``, then rename over ``path``.

    A crash leaves either the old file or none, never a partial one: the
    temporary file is fsynced before it takes the final name, and removed
    if ``write`` fails.

    Parameters
    ----------
    path : str or path-like
    write : callable
        Called with a temporary path in the same folder (same file ending).

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.files import atomic_write
    >>> p = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> atomic_write(p, lambda tmp: open(tmp, "w").write("hi"))
    >>> open(p).read()
    'hi'
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    base, ext = os.path.splitext(os.path.basename(path))
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp{ext}")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:  # on disk before it takes the final name
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def atomic_write_data(path, data):
    """Write ``data`` to ``path`` atomically: bytes as they are, a str as UTF-8.

    Parameters
    ----------
    path : str or path-like
    data : bytes or str

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.files import atomic_write_data
    >>> p = os.path.join(tempfile.mkdtemp(), "table.md")
    >>> atomic_write_data(p, "| accuracy |\\n| 89.4% ± 2.3 |\\n")
    >>> open(p, encoding="utf-8").read().splitlines()[1]
    '| 89.4% ± 2.3 |'
    """
    binary = isinstance(data, bytes)

    def write(tmp):
        with open(tmp, "wb" if binary else "w", encoding=None if binary else "utf-8") as fh:
            fh.write(data)

    atomic_write(path, write)


def file_state(path):
    """Identity of a file's current contents, for memoising.

    A rewrite changes ctime even when size and mtime are restored
    (``cp -p``, ``rsync -t``), so a memo keyed by this is never stale.

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.files import file_state
    >>> p = os.path.join(tempfile.mkdtemp(), "a"); _ = open(p, "w").write("x")
    >>> len(file_state(p))
    5
    """
    path = os.path.abspath(os.fspath(path))
    st = os.stat(path)
    return (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


_MEMO = {}
_MEMO_LOCK = threading.Lock()


def memo_by_file(path, kind, compute):
    """``compute(path)``, remembered per file state and ``kind`` for the process.

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.files import memo_by_file
    >>> p = os.path.join(tempfile.mkdtemp(), "a"); _ = open(p, "w").write("x")
    >>> calls = []
    >>> [memo_by_file(p, "size", lambda q: calls.append(q) or 1) for _ in range(2)], len(calls)
    ([1, 1], 1)
    """
    key = (kind, file_state(path))
    with _MEMO_LOCK:
        if key in _MEMO:
            return _MEMO[key]
    value = compute(os.fspath(path))
    with _MEMO_LOCK:
        _MEMO[key] = value
    return value


def file_digest(path):
    """SHA-256 of a file's bytes (memoised per file state): model identity for cache keys.

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.files import file_digest
    >>> p = os.path.join(tempfile.mkdtemp(), "m.bin"); _ = open(p, "wb").write(b"abc")
    >>> file_digest(p)[:12]
    'ba7816bf8f01'
    """
    def sha256(p):
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    return memo_by_file(path, "sha256", sha256)
