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

from ..exceptions import ToolMissingError  # re-exported

__all__ = [
    "ToolMissingError",
    "missing_tools",
    "write_pcm",
    "read_pcm",
    "build",
    "run_demo",
    "qemu_command",
    "parse_demo_output",
    "map_sizes",
    "measure_device",
    "measure_library_files",
    "verify_student",
    "verify_build",
    "python_int8_features",
    "compare_features",
    "features_agree",
    "HOST_TOOLS",
    "M4_TOOLS",
]

#: programs ``make host`` needs
HOST_TOOLS = ("make", "cc")
#: programs ``make m4`` and the emulated run need
M4_TOOLS = ("make", "arm-none-eabi-gcc", "arm-none-eabi-size", "qemu-system-arm")

#: the emulator run is stopped after this many seconds (a hung firmware)
QEMU_TIMEOUT = 600


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
        r = subprocess.run(
            ["arm-none-eabi-gcc", "-print-file-name=rdimon.specs"], capture_output=True, text=True
        )
        if r.stdout.strip() in ("", "rdimon.specs"):
            missing.append("newlib (rdimon.specs)")
    return missing


def _require(target):
    missing = missing_tools(target)
    if missing:
        what = (
            "a C compiler and make"
            if target == "host"
            else "the Arm cross compiler and QEMU (Debian packages gcc-arm-none-eabi, "
            "libnewlib-arm-none-eabi, qemu-system-arm)"
        )
        raise ToolMissingError(
            f"cannot build or run the {target} demo: {', '.join(missing)} "
            f"not found on PATH; install {what}"
        )


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
    r = subprocess.run(["make", "-C", os.fspath(lib_dir), target], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(
            f"building the {target} C library failed:\n{r.stdout[-2000:]}{r.stderr[-4000:]}"
        )
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


def qemu_command(elf, *args, icount=False):
    """The ``qemu-system-arm`` command running a semihosting firmware on ``mps2-an386``.

    Parameters
    ----------
    elf : str
        The firmware (relative to the directory the command runs in).
    *args : str
        Its command-line arguments (semihosting passes them).
    icount : bool, default=False
        One instruction per virtual nanosecond (``-icount shift=0``).

    Examples
    --------
    >>> from embedclf.distill.verify import qemu_command
    >>> qemu_command("fw.elf", "in.pcm")[-3:]
    ['enable=on,target=native,arg=fw.elf,arg=in.pcm', '-kernel', 'fw.elf']
    """
    cmd = ["qemu-system-arm", "-M", "mps2-an386", "-nographic", "-monitor", "none"]
    if icount:
        cmd[1:1] = ["-icount", "shift=0"]
    config = ",".join(["enable=on", "target=native", *(f"arg={a}" for a in (elf, *args))])
    return [*cmd, "-semihosting-config", config, "-kernel", elf]


def run_demo(lib_dir, pcm_path, target="host", features_path=None, icount=False, first_sample=0):
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
    first_sample : int, default=0
        The stream position of the file's first sample: the demo reports
        event positions from there (``ecl_listener_start_at``).

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
    flags = [f"--first-sample={int(first_sample)}"] if first_sample else []
    if target == "host":
        prog = "embedclf_check_features" if features_path else "embedclf_demo"
        cmd = [os.path.join(lib_dir, prog), *flags, pcm_path]
        if features_path:
            cmd.append(os.path.abspath(features_path))
        cwd = None
    else:
        _require("m4")
        cmd = qemu_command("embedclf_demo.elf", *flags, pcm_path, icount=icount)
        cwd = lib_dir
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=QEMU_TIMEOUT)
    if r.returncode:
        raise RuntimeError(f"the {target} demo failed ({r.returncode}): {r.stderr[-1000:]}")
    scores, label = parse_demo_output(r.stdout)
    return scores, label, r.stdout


#: output sections of the firmware that occupy flash (code, constants, data's initial values)
_FLASH_SECTIONS = (".text", ".ARM.extab", ".ARM.exidx", ".data")
#: output sections that occupy RAM
_RAM_SECTIONS = (".data", ".bss")


def map_sizes(map_text):
    """Bytes each object file puts in each output section, from a GNU ld map file.

    Only sections kept in the image count (the "discarded input sections"
    list is skipped).

    Returns
    -------
    dict of (str, str) to int
        ``(object file, output section) -> bytes``.

    Examples
    --------
    >>> from embedclf.distill.verify import map_sizes
    >>> text = '''Linker script and memory map
    ... .text           0x00000000      0x200
    ...  .text.f        0x00000000       0x40 obj/a.o
    ...  .text.long_function_name
    ...                 0x00000040       0x10 obj/b.o
    ... .bss            0x20000000       0x80
    ...  .bss.x         0x20000000       0x80 obj/a.o
    ... '''
    >>> sorted(map_sizes(text).items())
    [(('obj/a.o', '.bss'), 128), (('obj/a.o', '.text'), 64), (('obj/b.o', '.text'), 16)]
    """
    import re

    start = map_text.find("Linker script and memory map")
    lines = map_text[start if start >= 0 else 0 :].splitlines()
    out, section = {}, None
    entry = re.compile(r"^\s+(?:\S+\s+)?0x[0-9a-fA-F]+\s+0x([0-9a-fA-F]+)\s+(\S+\.o(?:\))?)\s*$")
    for line in lines:
        if line and not line[0].isspace():
            section = line.split()[0]
            continue
        if section is None:
            continue
        m = entry.match(line)
        if m and not line.strip().startswith("*"):
            key = (m.group(2), section)
            out[key] = out.get(key, 0) + int(m.group(1), 16)
    return out


def _size_totals(lib_dir):
    """(text, data, bss) of the firmware, from arm-none-eabi-size."""
    r = subprocess.run(
        ["arm-none-eabi-size", "embedclf_demo.elf"],
        cwd=os.fspath(lib_dir),
        capture_output=True,
        text=True,
        check=True,
    )
    text, data, bss = (int(v) for v in r.stdout.splitlines()[1].split()[:3])
    return text, data, bss


def measure_device(lib_dir, pcm_path, library_prefix="m4-obj/embedclf"):
    """The Cortex-M4 footprint and cost of the library, measured on the linked firmware.

    Builds the ``m4`` target, reads the map file and ``arm-none-eabi-size``,
    and runs the firmware on ``pcm_path`` in QEMU with ``-icount shift=0``:
    the firmware counts SysTick ticks around the library's calls only (its
    own file reading and printing excluded) and calibrates them against a
    loop of 2,000,000 instructions, and it paints the stack below each call
    to find the library's peak stack. The whole firmware's RAM is its linked
    ``.data`` and ``.bss``, any heap newlib took (``_sbrk``; the demo avoids it) and the
    program's peak stack from ``main``'s entry (painted once, checked before
    each library call and before the last write).

    Returns
    -------
    dict
        ``flash_bytes`` (the library's objects: code, constants and data's
        initial values), ``ram_bytes`` (their data and bss, the caller's
        ``ecl_state`` and ``ecl_listener``, and the peak stack),
        ``static_ram_bytes``, ``stack_bytes``, ``image_flash_bytes`` and
        ``image_ram_bytes`` (the whole demo firmware, newlib's stdio included; its RAM is
        ``image_static_ram_bytes`` + ``image_heap_bytes`` +
        ``image_stack_bytes``),
        ``instructions_per_window``, ``instructions_per_second_of_audio``,
        ``n_windows`` and ``audio_seconds`` of the measured clip.

    Examples
    --------
    >>> from embedclf.distill.verify import measure_device
    >>> callable(measure_device)
    True
    """
    import re
    import tempfile

    build(lib_dir, "m4")
    lib_dir = os.path.abspath(lib_dir)
    with open(os.path.join(lib_dir, "embedclf_demo.map")) as fh:
        map_text = fh.read()
    sizes = map_sizes(map_text)
    lib = {k: v for k, v in sizes.items() if k[0].startswith(library_prefix)}
    flash = sum(v for (obj, sec), v in lib.items() if sec in _FLASH_SECTIONS)
    # the library's own statics, plus the caller's ecl_state and ecl_listener (the demo's
    # `state` and `listener`: the events' state)
    static_ram = sum(v for (obj, sec), v in lib.items() if sec in _RAM_SECTIONS)
    for name in ("state", "listener"):
        found = re.search(
            rf"\.bss\.{name}\s+0x[0-9a-fA-F]+\s+0x([0-9a-fA-F]+)\s+\S*demo\.o", map_text
        )
        static_ram += int(found.group(1), 16) if found else 0
    text, data, bss = _size_totals(lib_dir)
    with tempfile.TemporaryDirectory() as tmp:
        stats_path = os.path.join(tmp, "stats.csv")
        _require("m4")
        pcm = os.path.abspath(pcm_path)
        cmd = qemu_command("embedclf_demo.elf", pcm, stats_path, icount=True)
        r = subprocess.run(cmd, cwd=lib_dir, capture_output=True, text=True, timeout=QEMU_TIMEOUT)
        if r.returncode or not os.path.exists(stats_path):
            raise RuntimeError(
                f"the Cortex-M4 firmware failed ({r.returncode}): {(r.stderr or r.stdout)[-1000:]}"
            )
        with open(stats_path) as fh:
            stats = dict(line.strip().split(",") for line in fh if "," in line)
    per_tick = int(stats["calibration_instructions"]) / int(stats["calibration_ticks"])
    instructions = int(stats["library_ticks"]) * per_tick
    n_windows = int(stats["windows"])
    seconds = os.path.getsize(pcm_path) / 2 / _sample_rate(lib_dir)
    stack = int(stats["stack_bytes"])
    heap, program_stack = int(stats["heap_bytes"]), int(stats["program_stack_bytes"])
    return {
        "flash_bytes": int(flash),
        "ram_bytes": int(static_ram + stack),
        "static_ram_bytes": int(static_ram),
        "stack_bytes": stack,
        "image_flash_bytes": int(text + data),
        "image_ram_bytes": int(data + bss + heap + program_stack),
        "image_static_ram_bytes": int(data + bss),
        "image_heap_bytes": heap,
        "image_stack_bytes": program_stack,
        "instructions_per_window": int(round(instructions / max(n_windows, 1))),
        "instructions_per_second_of_audio": int(round(instructions / seconds)),
        "n_windows": n_windows,
        "audio_seconds": round(seconds, 3),
    }


def _sample_rate(lib_dir):
    import re

    with open(os.path.join(lib_dir, "embedclf_network.h")) as fh:
        return int(re.search(r"#define ECL_SAMPLE_RATE (\d+)", fh.read()).group(1))


def measure_library_files(files, sample_rate, seconds=5.0):
    """:func:`measure_device` for a library given as files (``c_library_files``), built in a
    temporary folder.

    The firmware runs on ``seconds`` of deterministic noise at
    ``sample_rate`` (instruction counts barely depend on the sound).

    Returns
    -------
    dict
        :func:`measure_device`'s figures plus ``measured: True``, or
        ``measured: False`` and the ``reason`` (a missing tool named).

    Examples
    --------
    >>> from embedclf.distill.verify import measure_library_files
    >>> callable(measure_library_files)
    True
    """
    import tempfile

    missing = missing_tools("m4")
    if missing:
        return {
            "measured": False,
            "reason": f"{', '.join(missing)} not installed: the Cortex-M4 image was not "
            "built; flash and RAM are the .tflite and TFLM arena estimates",
        }
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            path = os.path.join(tmp, *name.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write(text)
        noise = 0.1 * np.random.default_rng(0).standard_normal(int(seconds * sample_rate))
        pcm = os.path.join(tmp, "noise.pcm")
        write_pcm(noise, pcm)
        return {"measured": True, **measure_device(tmp, pcm)}


def python_int8_features(spec, int8, samples):
    """The int8 network input of each window of a clip, as the Python student computes it.

    Parameters
    ----------
    spec : dict
        ``report["frontend"]`` of an export (:func:`embedclf.distill.report.frontend_spec`).
    int8 : Int8Model
        The exported model (its input quantisation).
    samples : ndarray
        The clip at the student's sample rate (as :func:`read_pcm` gives it).

    Returns
    -------
    ndarray of shape (n_windows, n_mels, n_frames), int8

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.distill.verify import python_int8_features
    >>> class Scale:  # any object with Int8Model's quantize
    ...     def quantize(self, x):
    ...         return np.clip(np.round(x / 0.1), -128, 127).astype(np.int8)
    >>> spec = {"logmel": {"sr": 16000, "n_fft": 512, "hop_length": 320, "n_mels": 40,
    ...                    "top_db": None}, "window_frames": 50, "hop_frames": 25,
    ...         "window_top_db": 80.0, "feature_mean": [0.0] * 40, "feature_std": [1.0] * 40}
    >>> python_int8_features(spec, Scale(), np.zeros(16000, np.float32)).shape
    (2, 40, 50)
    """
    from ..features.logmel import LogMel
    from ..models.windows import spectrogram_windows

    fe = LogMel(**spec["logmel"]).fit([np.zeros(1, np.float32)])
    W, _, _ = spectrogram_windows(
        fe, [samples], spec["window_frames"], spec["hop_frames"], top_db=spec["window_top_db"]
    )
    # as KerasCNN standardises its windows, in float32
    mean = np.asarray(spec["feature_mean"], np.float32)[:, None, None]
    std = np.asarray(spec["feature_std"], np.float32)[:, None, None]
    return int8.quantize((W - mean) / std)[..., 0]


def compare_features(got, expected):
    """``(values, values_differing, max_step)`` of two int8 feature arrays of one shape.

    Raises
    ------
    RuntimeError
        The shapes differ (the C library computed another number of windows).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.distill.verify import compare_features
    >>> compare_features(np.array([[1, -128]], np.int8), np.array([[2, 127]], np.int8))
    (2, 2, 255)
    """
    got, expected = np.asarray(got), np.asarray(expected)
    if got.shape != expected.shape:
        raise RuntimeError(
            f"the C library computed features of shape {got.shape}, Python {expected.shape}"
        )
    d = np.abs(got.astype(int) - expected.astype(int))
    return int(d.size), int(np.count_nonzero(d)), int(d.max()) if d.size else 0


def features_agree(res):
    """Whether a verification's C features match Python's within the documented tolerance.

    Identical but for the FFT's and the logarithm's rounding: at most one
    quantisation step, on at most 0.1% of the values.

    Parameters
    ----------
    res : dict
        With ``feature_values``, ``feature_values_differing`` and
        ``feature_max_step`` (:func:`verify_student`, :func:`verify_build`).

    Examples
    --------
    >>> from embedclf.distill.verify import features_agree
    >>> r = {"feature_values": 2000, "feature_values_differing": 2, "feature_max_step": 1}
    >>> features_agree(r), features_agree({**r, "feature_max_step": 2})
    (True, False)
    """
    return (
        res["feature_max_step"] <= 1
        and res["feature_values_differing"] <= 0.001 * res["feature_values"]
    )


def verify_student(student, export_dir, clips, *, m4=True, work_dir=None):
    """Run the exported C library on clips and compare it with Python, window by window.

    For each clip: the student's input waveform (read as ``student.predict``
    reads it) is written as 16-bit PCM; the host build computes features and
    scores from it; Python computes the int8 features of the same samples
    and TFLM's int8 scores; the emulated Cortex-M4 (when ``m4``) prints its
    own scores.

    Parameters
    ----------
    student : Distiller or KerasCNN
        The fitted student that ``export`` wrote to ``export_dir``.
    export_dir : str or path
        Holds ``model.tflite`` and the library in ``c/`` (built here).
    clips : sequence of clips
        Paths, or waveforms as ``student.predict`` takes them.
    m4 : bool, default=True
    work_dir : str or path, optional
        Where the PCM files go (a temporary folder by default).

    Returns
    -------
    dict
        ``n_clips``, ``n_windows``, ``feature_values``, ``feature_values_differing``,
        ``feature_max_step``, ``outputs_equal_tflm`` (windows whose C scores equal
        TFLM's on the C features), ``clip_agreement_python`` (C clip labels equal to
        the Python int8 student's), ``clip_agreement_predict`` (equal to
        ``student.predict``), and with ``m4`` ``m4_equal_host`` (clips whose whole
        firmware output equals the host's) and ``device`` (:func:`measure_device`).

    Examples
    --------
    >>> from embedclf.distill.verify import verify_student
    >>> callable(verify_student)
    True
    """
    import tempfile

    from ..audio import iter_clips
    from ..models.windows import pool_windows
    from .distiller import Distiller
    from .export import Int8Model, tflm_outputs

    cnn = student.student_ if isinstance(student, Distiller) else student
    # the waveforms the student's predict() computes on (a Distiller: teacher rate, resampled)
    to_input = student.student_waves if isinstance(student, Distiller) else (lambda X: X)
    waves = [w for _, _, w in iter_clips(to_input(list(clips)), cnn.sr)]
    lib = os.path.join(os.fspath(export_dir), "c")
    build(lib, "host")
    if m4:
        build(lib, "m4")
    with open(os.path.join(os.fspath(export_dir), "model.tflite"), "rb") as fh:
        model = fh.read()
    int8 = Int8Model(model)
    res = {
        "n_clips": len(waves),
        "n_windows": 0,
        "feature_values": 0,
        "feature_values_differing": 0,
        "feature_max_step": 0,
        "outputs_equal_tflm": 0,
        "clip_agreement_python": 0,
        "clip_agreement_predict": 0,
    }
    if m4:
        res["m4_equal_host"] = 0
    labels = []
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for k, wave in enumerate(waves):
            pcm = os.path.join(tmp, f"clip{k}.pcm")
            samples = write_pcm(wave, pcm)
            feats = os.path.join(tmp, f"clip{k}.i8")
            scores, label, host_out = run_demo(lib, pcm, features_path=feats)
            W, _, _ = cnn.windows([samples])
            expected = int8.quantize(W)[..., 0]
            got = np.fromfile(feats, np.int8).reshape(expected.shape)
            n, differing, step = compare_features(got, expected)
            res["n_windows"] += len(got)
            res["feature_values"] += n
            res["feature_values_differing"] += differing
            res["feature_max_step"] = max(res["feature_max_step"], step)
            res["outputs_equal_tflm"] += int(
                np.sum(np.all(tflm_outputs(model, got[..., None], 256 * 1024) == scores, axis=1))
            )
            T = tflm_outputs(model, expected[..., None], 256 * 1024)
            P = pool_windows(
                int8.dequantize(T).astype(np.float64), np.zeros(len(T), int), 1, cnn.pooling()
            )
            res["clip_agreement_python"] += int(int(P.argmax()) == label)
            labels.append(label)
            if m4:
                res["m4_equal_host"] += int(run_demo(lib, pcm, "m4")[2] == host_out)
            del samples
        predicted = [str(p) for p in student.predict(list(clips))]
        res["clip_agreement_predict"] = sum(
            str(cnn.classes_[i]) == p for i, p in zip(labels, predicted)
        )
        if m4:
            noise = os.path.join(tmp, "noise.pcm")
            write_pcm(0.1 * np.random.default_rng(0).standard_normal(5 * cnn.sr), noise)
            res["device"] = measure_device(lib, noise)
    return res


def verify_build(export_dir, clips, *, work_dir=None):
    """Check an export folder's C library on audio files, without the Python student.

    Builds the host and Cortex-M4 programs, runs both on each clip (decoded
    at the student's sample rate), compares the int8 features the C frontend
    computed with Python's (:func:`python_int8_features`, from the report's
    ``frontend`` section), runs TFLM on the C features, and measures the
    firmware (:func:`measure_device`).

    Parameters
    ----------
    export_dir : str or path
        A folder written by ``export`` (``report.json``, ``model.tflite``, ``c/``).
    clips : sequence of str
        Audio files.
    work_dir : str or path, optional

    Returns
    -------
    dict
        ``n_clips``, ``n_windows``, ``features_compared`` (False for an export
        whose report has no ``frontend`` section), ``feature_values``,
        ``feature_values_differing``, ``feature_max_step``, ``outputs_equal_tflm``,
        ``clip_agreement_tflm`` (C clip labels equal to pooled TFLM scores),
        ``m4_equal_host``, ``device`` and per-clip ``clips`` rows (path, label,
        windows, features differing).

    Examples
    --------
    >>> from embedclf.distill.verify import verify_build
    >>> verify_build("/nonexistent", [])  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    FileNotFoundError: /nonexistent/report.json: not an export folder ...
    """
    import json
    import tempfile

    from ..audio import iter_clips
    from ..models.windows import pool_windows
    from .export import Int8Model, tflm_outputs

    export_dir = os.fspath(export_dir)
    report_path = os.path.join(export_dir, "report.json")
    lib = os.path.join(export_dir, "c")
    if not os.path.isfile(report_path) or not os.path.isdir(lib):
        raise FileNotFoundError(
            f"{report_path}: not an export folder with a C library "
            "(write one with embedclf distill or embedclf.distill.export)"
        )
    with open(report_path) as fh:
        report = json.load(fh)
    sr, pooling = int(report["sample_rate"]), report.get("clip_pooling", "mean")
    build(lib, "host")
    build(lib, "m4")
    with open(os.path.join(export_dir, "model.tflite"), "rb") as fh:
        model = fh.read()
    int8 = Int8Model(model)
    spec = report.get("frontend")
    res = {
        "n_clips": 0,
        "n_windows": 0,
        "features_compared": spec is not None,
        "feature_values": 0,
        "feature_values_differing": 0,
        "feature_max_step": 0,
        "outputs_equal_tflm": 0,
        "clip_agreement_tflm": 0,
        "m4_equal_host": 0,
        "clips": [],
    }
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        for k, source, wave in iter_clips(list(clips), sr):
            pcm = os.path.join(tmp, f"clip{k}.pcm")
            samples = write_pcm(wave, pcm)
            feats = os.path.join(tmp, f"clip{k}.i8")
            scores, label, host_out = run_demo(lib, pcm, features_path=feats)
            F = np.fromfile(feats, np.int8).reshape(-1, *report["input_shape"])
            differing = None
            if spec is not None:
                n, differing, step = compare_features(
                    F[..., 0], python_int8_features(spec, int8, samples)
                )
                res["feature_values"] += n
                res["feature_values_differing"] += differing
                res["feature_max_step"] = max(res["feature_max_step"], step)
            T = tflm_outputs(model, F, 256 * 1024)
            P = pool_windows(
                int8.dequantize(T).astype(np.float64), np.zeros(len(T), int), 1, pooling
            )
            same_m4 = run_demo(lib, pcm, "m4")[2] == host_out
            res["n_clips"] += 1
            res["n_windows"] += len(scores)
            res["outputs_equal_tflm"] += int(np.sum(np.all(T == scores, axis=1)))
            res["clip_agreement_tflm"] += int(int(P.argmax()) == label)
            res["m4_equal_host"] += int(same_m4)
            res["clips"].append(
                {
                    "clip": str(source),
                    "label": report["classes"][label],
                    "windows": len(scores),
                    "features_differing": differing,
                    "m4_equal_host": bool(same_m4),
                }
            )
        noise = os.path.join(tmp, "noise.pcm")
        write_pcm(0.1 * np.random.default_rng(0).standard_normal(5 * sr), noise)
        res["device"] = measure_device(lib, noise)
    return res
