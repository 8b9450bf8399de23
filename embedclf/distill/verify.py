"""Build the exported C library, run its demo on the host or an emulated Cortex-M4, compare.

The demo (``c/demo.c``) reads raw 16-bit little-endian mono PCM and prints
one CSV line per analysis window (``window,label_index,q0,q1,...``, the
int8 scores) and a last line ``clip,label_index``. The same program runs on
the host and, cross-compiled, as a firmware for QEMU's ``mps2-an386`` board
(semihosting passes the file name and reads the file).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np

__all__ = ["ToolMissingError", "missing_tools", "write_pcm", "read_pcm", "build",
           "run_demo", "parse_demo_output", "HOST_TOOLS", "M4_TOOLS"]

#: programs ``make host`` needs
HOST_TOOLS = ("make", "cc")
#: programs ``make m4`` and the emulated run need
M4_TOOLS = ("make", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")

#: the emulator run is stopped after this many seconds (a hung firmware)
QEMU_TIMEOUT = 600


class ToolMissingError(RuntimeError):
    """A compiler, ``make`` or the emulator is not installed.

    Examples
    --------
    >>> from embedclf.distill.verify import ToolMissingError
    >>> issubclass(ToolMissingError, RuntimeError)
    True
    """


def missing_tools(target="host"):
    """Names of the programs ``target`` ("host" or "m4") needs that are not on PATH.

    Examples
    --------
    >>> from embedclf.distill.verify import missing_tools
    >>> isinstance(missing_tools("host"), list)
    True
    """
    needed = HOST_TOOLS if target == "host" else M4_TOOLS
    missing = [t for t in needed if shutil.which(t) is None]
    if target == "m4" and "arm-none-eabi-gcc" not in missing:
        # the cross compiler without newlib cannot link the semihosting firmware
        r = subprocess.run(["arm-none-eabi-gcc", "-print-file-name=rdimon.specs"],
                           capture_output=True, text=True)
        if r.stdout.strip() in ("", "rdimon.specs"):
            missing.append("newlib (rdimon.specs)")
    return missing


def _require(target):
    missing = missing_tools(target)
    if missing:
        what = ("a C compiler and make" if target == "host" else
                "the Arm cross compiler and QEMU (Debian packages gcc-arm-none-eabi, "
                "libnewlib-arm-none-eabi, qemu-system-arm)")
        raise ToolMissingError(f"cannot build or run the {target} demo: {', '.join(missing)} "
                               f"not found on PATH; install {what}")


def write_pcm(wave, path):
    """Write a float waveform in [-1, 1] as 16-bit little-endian PCM; returns the samples read back.

    The returned float32 samples (``int16 / 32768``) are exactly what the C
    library computes from the file, so Python references use them.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from embedclf.distill.verify import write_pcm
    >>> p = os.path.join(tempfile.mkdtemp(), "x.pcm")
    >>> write_pcm(np.array([0.5, -1.0, 2.0]), p).tolist()
    [0.5, -1.0, 0.999969482421875]
    """
    pcm = np.clip(np.round(np.asarray(wave, np.float64) * 32768), -32768, 32767).astype("<i2")
    pcm.tofile(os.fspath(path))
    return read_pcm(path)


def read_pcm(path):
    """Float32 samples of a 16-bit little-endian PCM file, as the C library reads them.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from embedclf.distill.verify import read_pcm
    >>> p = os.path.join(tempfile.mkdtemp(), "x.pcm")
    >>> np.array([16384, -32768], "<i2").tofile(p)
    >>> read_pcm(p).tolist()
    [0.5, -1.0]
    """
    return np.fromfile(os.fspath(path), dtype="<i2").astype(np.float32) / np.float32(32768)


def build(lib_dir, target="host"):
    """Run ``make host`` or ``make m4`` in the library folder; returns make's output.

    Raises
    ------
    ToolMissingError
        A tool the target needs is not installed.
    RuntimeError
        The build failed (the compiler's messages are in the error).

    Examples
    --------
    >>> from embedclf.distill.verify import build
    >>> build("/nonexistent", "tablet")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: target must be 'host' or 'm4', got 'tablet'
    """
    if target not in ("host", "m4"):
        raise ValueError(f"target must be 'host' or 'm4', got {target!r}")
    _require(target)
    r = subprocess.run(["make", "-C", os.fspath(lib_dir), target], capture_output=True,
                       text=True)
    if r.returncode:
        raise RuntimeError(f"building the {target} C library failed:\n{r.stdout[-2000:]}"
                           f"{r.stderr[-4000:]}")
    return r.stdout


def parse_demo_output(text):
    """``(scores, label)`` from the demo's CSV: int8 scores per window and the clip's label index.

    Examples
    --------
    >>> from embedclf.distill.verify import parse_demo_output
    >>> q, label = parse_demo_output("0,1,-128,127\\n1,0,3,-2\\nclip,1\\n")
    >>> q.tolist(), label
    ([[-128, 127], [3, -2]], 1)
    """
    rows, label = [], None
    for line in text.splitlines():
        parts = line.strip().split(",")
        if parts[0] == "clip":
            label = int(parts[1])
        elif parts[0].isdigit():
            rows.append([int(v) for v in parts[2:]])
    if label is None:
        raise RuntimeError(f"the demo printed no clip line: {text[-500:]!r}")
    return np.array(rows, dtype=np.int8).reshape(len(rows), -1), label


def run_demo(lib_dir, pcm_path, target="host", features_path=None, icount=False):
    """Run the built demo on a PCM file; returns ``(scores, label, stdout)``.

    Parameters
    ----------
    lib_dir : str or path
        The built library folder (:func:`build`).
    pcm_path : str or path
    target : {"host", "m4"}
        ``"m4"`` runs the firmware in ``qemu-system-arm -M mps2-an386`` with
        semihosting.
    features_path : str or path, optional
        Host only: also write each window's int8 network input there (the
        ``embedclf_check_features`` build).
    icount : bool, default=False
        M4 only: run QEMU with ``-icount shift=0`` (one instruction per
        virtual nanosecond), so that instruction counts can be read off the
        virtual clock.

    Examples
    --------
    >>> from embedclf.distill.verify import run_demo
    >>> run_demo("/nonexistent", "x.pcm", "tablet")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ValueError: target must be 'host' or 'm4', got 'tablet'
    """
    if target not in ("host", "m4"):
        raise ValueError(f"target must be 'host' or 'm4', got {target!r}")
    lib_dir, pcm_path = os.path.abspath(lib_dir), os.path.abspath(pcm_path)
    if target == "host":
        prog = "embedclf_check_features" if features_path else "embedclf_demo"
        cmd = [os.path.join(lib_dir, prog), pcm_path]
        if features_path:
            cmd.append(os.path.abspath(features_path))
        cwd = None
    else:
        _require("m4")
        elf = "embedclf_demo.elf"
        cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none",
               "-semihosting-config", f"enable=on,target=native,arg={elf},arg={pcm_path}",
               "-kernel", elf]
        if icount:
            cmd[1:1] = ["-icount", "shift=0"]
        cwd = lib_dir
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=QEMU_TIMEOUT)
    if r.returncode:
        raise RuntimeError(f"the {target} demo failed ({r.returncode}): {r.stderr[-1000:]}")
    scores, label = parse_demo_output(r.stdout)
    return scores, label, r.stdout
