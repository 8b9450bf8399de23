"""How many threads a model may run: the CPUs this process really has.

``os.cpu_count()`` counts the machine's CPUs, not the ones the process may
use: a CPU affinity mask (``taskset``, a batch scheduler) or a container's
cgroup CPU quota (``docker --cpus``) can leave it far fewer. Running more
threads than that only adds contention. :func:`available_cpus` takes the
smallest of affinity, quota and ``os.cpu_count()``, each where the platform
has it (no crash on macOS or Windows, which lack affinity and cgroups).
:func:`model_threads` is what a model uses by default: that count, capped
inside a joblib worker to the worker's share.

Nothing here imports the rest of the package.
"""

from __future__ import annotations

import math
import os

__all__ = ["CGROUP_ROOT", "available_cpus", "cgroup_cpu_quota", "model_threads"]

#: Where the cgroup file system is mounted (v2: ``cpu.max``; v1: ``cpu/cpu.cfs_*_us``).
CGROUP_ROOT = "/sys/fs/cgroup"


def _read(path):
    try:
        with open(path) as fh:
            return fh.read().strip()
    except OSError:  # absent (no cgroups, macOS, Windows) or unreadable
        return None


def cgroup_cpu_quota(cgroup_root=CGROUP_ROOT):
    """The cgroup CPU quota in CPUs (e.g. 1.5), or None when there is none.

    Reads cgroup v2 ``cpu.max`` (``"<quota> <period>"`` or ``"max <period>"``),
    else cgroup v1 ``cpu/cpu.cfs_quota_us`` and ``cpu/cpu.cfs_period_us``
    (quota -1: unlimited). Missing or malformed files mean no quota.

    Parameters
    ----------
    cgroup_root : str or path-like, default=CGROUP_ROOT

    Returns
    -------
    float or None

    Examples
    --------
    >>> import os, tempfile
    >>> from embedclf.threads import cgroup_cpu_quota
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "cpu.max"), "w").write("150000 100000\\n")
    >>> cgroup_cpu_quota(root)
    1.5
    >>> cgroup_cpu_quota(os.path.join(root, "absent")) is None
    True
    """
    root = os.fspath(cgroup_root)
    v2 = _read(os.path.join(root, "cpu.max"))
    if v2 is not None:
        parts = v2.split()
        quota, period = (parts + [None, None])[:2]
    else:
        quota = _read(os.path.join(root, "cpu", "cpu.cfs_quota_us"))
        period = _read(os.path.join(root, "cpu", "cpu.cfs_period_us"))
    try:
        quota, period = int(quota), int(period)
    except (TypeError, ValueError):  # "max", absent, or not a number: no quota
        return None
    if quota <= 0 or period <= 0:  # v1 writes -1 for "no quota"
        return None
    return quota / period


def _affinity_cpus():
    """CPUs in this process's affinity mask, or None where the platform cannot say."""
    if hasattr(os, "sched_getaffinity"):  # Linux, some BSDs
        try:
            return len(os.sched_getaffinity(0)) or None
        except OSError:
            return None
    if hasattr(os, "process_cpu_count"):  # Python 3.13+: affinity where the OS has one
        return os.process_cpu_count()
    return None


def available_cpus(*, cgroup_root=CGROUP_ROOT):
    """CPUs this process may really use: affinity, cgroup quota, then ``os.cpu_count()``.

    The smallest of the affinity mask's size, the cgroup CPU quota rounded up
    (1.5 CPUs of quota can keep 2 threads busy part of the time) and
    ``os.cpu_count()``; each is skipped where the platform lacks it, and the
    result is at least 1.

    Parameters
    ----------
    cgroup_root : str or path-like, default=CGROUP_ROOT
        Where to read the cgroup quota files (a parameter for tests).

    Returns
    -------
    int

    Examples
    --------
    >>> import os, tempfile
    >>> from embedclf.threads import available_cpus
    >>> available_cpus() >= 1
    True
    >>> root = tempfile.mkdtemp()
    >>> _ = open(os.path.join(root, "cpu.max"), "w").write("50000 100000\\n")
    >>> available_cpus(cgroup_root=root)  # half a CPU of quota: one thread
    1
    """
    counts = [_affinity_cpus(), os.cpu_count()]
    quota = cgroup_cpu_quota(cgroup_root)
    if quota is not None:
        counts.append(math.ceil(quota))
    counts = [c for c in counts if c]
    return max(1, min(counts)) if counts else 1


def _env_threads(var="OMP_NUM_THREADS"):
    """The first positive integer in ``var`` (OpenMP allows "4,2" for nested levels)."""
    value = os.environ.get(var, "").split(",")[0].strip()
    try:
        n = int(value)
    except ValueError:
        return None
    return n if n > 0 else None


def model_threads(n_threads=None, *, cgroup_root=CGROUP_ROOT):
    """Threads a model should run: ``n_threads`` if given, else this process's share.

    The default is :func:`available_cpus`, capped by ``OMP_NUM_THREADS``
    when it is set. joblib's process backends (loky, multiprocessing) set it
    in every worker to that worker's share of the CPUs (``cpu_count() //
    n_jobs``, or ``inner_max_num_threads`` of :func:`joblib.parallel_config`),
    so ``n_jobs`` workers together run no more threads than there are CPUs;
    users set it to limit native threads in the same way. joblib's
    ``threading`` backend runs its workers in this process and sets nothing:
    there, pass an explicit count (e.g. ``available_cpus() // n_jobs``).

    Parameters
    ----------
    n_threads : int or None, default=None
        An explicit count (at least 1), returned as it is.
    cgroup_root : str or path-like, default=CGROUP_ROOT

    Returns
    -------
    int

    Examples
    --------
    >>> from embedclf.threads import available_cpus, model_threads
    >>> model_threads(3)
    3
    >>> 1 <= model_threads() <= available_cpus()
    True
    """
    if n_threads is not None:
        if int(n_threads) < 1:
            raise ValueError(f"n_threads must be at least 1, got {n_threads}")
        return int(n_threads)
    n = available_cpus(cgroup_root=cgroup_root)
    share = _env_threads()
    return min(n, share) if share else n
