"""Small file utilities every layer may use: atomic writes and per-file memos.

Nothing here imports the rest of the package, so audio, features, models and
the command line can all rely on it without breaking the one-way layering.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid

__all__ = [
    "atomic_write",
    "atomic_write_data",
    "file_state",
    "memo_by_file",
    "file_digest",
    "sha256_file",
    "replace_folder",
    "recover_folder",
    "check_replaceable",
]


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
    return memo_by_file(path, "sha256", sha256_file)


def sha256_file(path):
    """SHA-256 of a file's bytes, read now (never memoised), as a hex string.

    Examples
    --------
    >>> import tempfile, os
    >>> from embedclf.files import sha256_file
    >>> p = os.path.join(tempfile.mkdtemp(), "m.bin"); _ = open(p, "wb").write(b"abc")
    >>> sha256_file(p)[:12]
    'ba7816bf8f01'
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: how a folder written by :func:`replace_folder` is named while it is being built / set aside
_STAGE, _ASIDE = ".{}.new-", ".{}.old"


def _fsync_dir(path):
    """Make renames in ``path`` durable where the platform allows (not on Windows)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _link_or_copy(src, dst):
    """Hard-link ``src`` to ``dst`` (no data copied), else copy it."""
    import shutil

    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def recover_folder(path):
    """Finish or undo a :func:`replace_folder` that a crash interrupted.

    A crash between its two renames leaves the old folder set aside and no
    folder at ``path``: the old one is put back. A crash after them leaves
    the old one set aside next to the new one: it is removed. Half-built
    new folders are removed.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    bool
        Whether anything was repaired or cleaned.

    Examples
    --------
    >>> import os, tempfile
    >>> from embedclf.files import recover_folder
    >>> parent = tempfile.mkdtemp()
    >>> os.mkdir(os.path.join(parent, ".out.old"))  # as a crash mid-swap leaves it
    >>> recover_folder(os.path.join(parent, "out")), os.listdir(parent)
    (True, ['out'])
    """
    import shutil

    path = os.path.realpath(os.fspath(path))
    parent, name = os.path.split(path)
    aside = os.path.join(parent, _ASIDE.format(name))
    changed = False
    if os.path.isdir(aside):
        if os.path.lexists(path):
            shutil.rmtree(aside)
        else:
            os.rename(aside, path)
        changed = True
    stage = _STAGE.format(name)
    if os.path.isdir(parent):
        for entry in os.listdir(parent):
            if entry.startswith(stage):
                shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)
                changed = True
    return changed


def check_replaceable(path):
    """Raise unless :func:`replace_folder` can replace ``path``; return its real path.

    Call it before long work whose result goes there, to fail early.

    Raises
    ------
    ValueError
        ``path`` is, or contains, the current working directory (the swap
        would delete it from under the process).
    NotADirectoryError
        ``path`` exists and is not a folder.

    Examples
    --------
    >>> import os, tempfile
    >>> from embedclf.files import check_replaceable
    >>> os.path.basename(check_replaceable(os.path.join(tempfile.mkdtemp(), "out")))
    'out'
    >>> check_replaceable(os.getcwd())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: cannot replace ... as a whole: it holds the current working directory; ...
    """
    path = os.path.realpath(os.fspath(path))
    cwd = os.path.realpath(os.getcwd())
    if cwd == path or cwd.startswith(path.rstrip(os.sep) + os.sep):
        raise ValueError(
            f"cannot replace {path} as a whole: it holds the current working "
            "directory; write to another folder or run from elsewhere"
        )
    if os.path.lexists(path) and not os.path.isdir(path):
        raise NotADirectoryError(f"{path} exists and is not a folder; choose a folder to write to")
    return path


def replace_folder(path, write, *, drop=()):
    """Replace the folder ``path`` by a new set of files as a whole.

    ``write(tmp_dir)`` fills a new sibling folder; only when it returns is
    that folder swapped in: the old folder is renamed aside, the new one
    renamed to ``path``, then the old one deleted. A reader sees the old
    set or the new set, never a mix; if ``write`` raises, ``path`` is
    untouched. A crash between the two renames is repaired by
    :func:`recover_folder`, which this function calls first.

    Entries of the old folder that ``write`` did not produce are carried
    into the new one (hard links, or copies across file systems; folders
    recursively), so files a user keeps there survive; names in ``drop``
    are not carried over. ``path`` may be a symbolic link: the folder it
    points to is replaced. It must not be, or contain, the current working
    directory, which the swap would delete from under the process. Two
    processes replacing the same folder at once are not supported.

    Parameters
    ----------
    path : str or path-like
    write : callable
        Called with the new folder's path (it exists and is empty).
    drop : iterable of str, default=()
        Names in the old folder not to carry over (stale outputs).

    Returns
    -------
    str
        The real path of the replaced folder.

    Examples
    --------
    >>> import os, tempfile
    >>> from embedclf.files import replace_folder
    >>> out = os.path.join(tempfile.mkdtemp(), "out")
    >>> def write(d):
    ...     for name in ("a.txt", "b.txt"):
    ...         open(os.path.join(d, name), "w").write("new")
    >>> _ = replace_folder(out, write)
    >>> _ = open(os.path.join(out, "notes.md"), "w").write("mine")
    >>> _ = replace_folder(out, write)
    >>> sorted(os.listdir(out))
    ['a.txt', 'b.txt', 'notes.md']
    """
    import shutil

    path = check_replaceable(path)
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    recover_folder(path)
    stage = os.path.join(parent, f"{_STAGE.format(name)}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.mkdir(stage)
    try:
        write(stage)
        if os.path.isdir(path):
            shutil.copymode(path, stage)  # the folder keeps the permissions it had
            skip = set(drop)
            for entry in os.listdir(path):
                src, dst = os.path.join(path, entry), os.path.join(stage, entry)
                if entry in skip or os.path.lexists(dst):
                    continue
                if os.path.islink(src):
                    os.symlink(os.readlink(src), dst)
                elif os.path.isdir(src):
                    shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
                else:
                    _link_or_copy(src, dst)
        _fsync_dir(stage)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    aside = os.path.join(parent, _ASIDE.format(name))
    if os.path.isdir(path):
        try:
            os.rename(path, aside)
        except OSError:  # e.g. a file held open on Windows: nothing changed
            shutil.rmtree(stage, ignore_errors=True)
            raise
        os.rename(stage, path)  # a crash between the renames: recover_folder puts aside back
        _fsync_dir(parent)
        shutil.rmtree(aside, ignore_errors=True)
    else:
        os.rename(stage, path)
        _fsync_dir(parent)
    return path
