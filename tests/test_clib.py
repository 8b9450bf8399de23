"""The exported C library: int8 network equal to TFLM, frontend equal to Python, the same
output on the host and on an emulated Cortex-M4."""

import json
import os
import re
import subprocess

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

pytest.importorskip("keras")
pytest.importorskip("tflite_micro")

from embedclf import LogMel, WindowAggregator  # noqa: E402
from embedclf.distill import Distiller, export  # noqa: E402
from embedclf.distill.clib import UnsupportedNetworkError, network_source  # noqa: E402
from embedclf.distill.export import Int8Model, tflm_outputs, to_int8_tflite  # noqa: E402
from embedclf.distill.verify import build, missing_tools, run_demo, write_pcm  # noqa: E402
from embedclf.models.windows import pool_windows, resolve_clip_pooling  # noqa: E402

SR = 16000


def _skip_without(target):
    missing = missing_tools(target)
    if missing:
        pytest.skip(
            f"{', '.join(missing)} not installed: `make test` installs them when run "
            "as root (tools/system-deps.sh)"
        )


@pytest.fixture(scope="module")
def data():
    from embedclf.datasets import make_sound_events

    X, y, folds = make_sound_events(n_per_class=8, sr=SR, duration=1.5, random_state=4)
    train, test = np.where(folds != 1)[0], np.where(folds == 1)[0]
    return [X[i] for i in train], y[train], [X[i] for i in test], y[test]


@pytest.fixture(scope="module")
def exported(data, tmp_path_factory):
    """One small student, exported and its C library built for the host, once."""
    X, y, _, _ = data
    teacher = Pipeline(
        [
            ("mel", LogMel(sr=SR)),
            ("agg", WindowAggregator()),
            ("clf", LogisticRegression(max_iter=1000)),
        ]
    ).fit(X, y)
    student = Distiller(teacher, epochs=8, learning_rate=1e-2, random_state=0).fit(X, y)
    out = tmp_path_factory.mktemp("clib")
    report = export(student, out, X)
    _skip_without("host")
    build(out / "c", "host")
    return student, out, report


@pytest.fixture(scope="module")
def clips(exported, data, tmp_path_factory):
    """Test clips as PCM files (plus a short and a near-silent one) and the samples C reads."""
    _, _, Xt, _ = data
    folder = tmp_path_factory.mktemp("pcm")
    waves = list(Xt) + [Xt[0][:3000], Xt[1][:200], 1e-4 * Xt[2]]
    paths = [folder / f"clip{i}.pcm" for i in range(len(waves))]
    return paths, [write_pcm(w, p) for w, p in zip(waves, paths)]


def _python_int8(student, model_bytes, wave):
    """The int8 network input of each window as the Python student computes it."""
    W, _, _ = student.student_._windows([wave])
    return Int8Model(model_bytes).quantize(W)[..., 0]


def test_export_writes_the_c_library_and_reports_it(exported):
    _, out, report = exported
    assert report["c_library"]["folder"] == "c"
    assert json.loads((out / "report.json").read_text())["c_library"] == report["c_library"]
    for name in ("embedclf.c", "embedclf_network.c", "embedclf_kernels.c", "demo.c", "Makefile"):
        assert (out / "c" / name).is_file()


def test_network_in_c_equals_the_tflm_interpreter(exported, data, tmp_path):
    """Same int8 input, identical int8 output to TensorFlow Lite Micro, window by window."""
    student, out, _ = exported
    X, _, Xt, _ = data
    model = (out / "model.tflite").read_bytes()
    Q = np.concatenate([_python_int8(student, model, w) for w in X[:6] + Xt])[..., None]
    Q.tofile(tmp_path / "in.i8")
    subprocess.run(
        [out / "c" / "embedclf_check_network", tmp_path / "in.i8", tmp_path / "out.i8"], check=True
    )
    C = np.fromfile(tmp_path / "out.i8", np.int8).reshape(len(Q), -1)
    expected = tflm_outputs(model, Q, 64 * 1024)
    assert len(np.unique(expected, axis=0)) > 5  # varied windows, not one repeated answer
    np.testing.assert_array_equal(C, expected)


@pytest.mark.numeric
def test_frontend_in_c_computes_the_python_int8_input(exported, clips, tmp_path):
    """Identical int8 features but for float rounding next to a quantisation step."""
    student, out, _ = exported
    model = (out / "model.tflite").read_bytes()
    n = differ = 0
    for path, wave in zip(*clips):
        feats = tmp_path / "f.i8"
        run_demo(out / "c", path, features_path=feats)
        expected = _python_int8(student, model, wave)
        got = np.fromfile(feats, np.int8).reshape(expected.shape)
        d = np.abs(got.astype(int) - expected)
        assert d.max() <= 1
        n, differ = n + d.size, differ + np.count_nonzero(d)
    assert differ <= 0.001 * n


def test_demo_clip_labels_equal_python(exported, clips):
    """Window scores equal TFLM; clip labels equal the Python int8 student's, pooled as
    Distiller.predict pools (which runs the float network: quantisation alone may change a
    label there, so that comparison is reported by verify_student, not asserted)."""
    student, out, _ = exported
    model = (out / "model.tflite").read_bytes()
    int8 = Int8Model(model)
    labels, expected = [], []
    for path, wave in zip(*clips):
        scores, label, _ = run_demo(out / "c", path)
        Q = _python_int8(student, model, wave)
        T = tflm_outputs(model, Q[..., None], 64 * 1024)
        np.testing.assert_array_equal(scores, T)
        P = pool_windows(
            int8.dequantize(T).astype(np.float64),
            np.zeros(len(T), int),
            1,
            resolve_clip_pooling(student.clip_pooling, student.aggregate),
        )
        labels.append(label)
        expected.append(int(P.argmax()))
    assert labels == expected


def test_streaming_gives_the_same_windows_for_any_chunking(exported, clips, tmp_path):
    """Samples pushed one at a time, in odd chunks or all at once: the same scores and the same
    events (embedclf_events.c)."""
    _, out, _ = exported
    c = out / "c"
    prog = tmp_path / "chunks.c"
    prog.write_text(r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "embedclf.h"
#include "embedclf_events.h"
static void on_window(long i, const int8_t *q, void *u) {
  int c; (void)u; printf("%ld,%d", i, ecl_argmax(q));
  for (c = 0; c < ECL_N_CLASSES; ++c) printf(",%d", q[c]);
  printf("\n");
}
static void on_event(const ecl_event *e, void *u) {
  uint32_t bits; /* as the demo prints it: the score's float32 bits */
  (void)u; memcpy(&bits, &e->score, sizeof bits);
  printf("event,%d,%ld,%ld,%08lx,%ld,%ld,%s\n", e->label, e->onset, e->offset,
         (unsigned long)bits, e->detected, e->decided, ecl_labels[e->label]);
}
int main(int argc, char **argv) {
  static int16_t pcm[1 << 20]; static ecl_state st; static ecl_listener ls;
  size_t n, i, chunk = atoi(argv[2]);
  (void)argc;
  FILE *f = fopen(argv[1], "rb"); n = fread(pcm, 2, 1 << 20, f); fclose(f);
  ecl_init(&st);
  ecl_listener_init(&ls, on_event, on_window, NULL);
  for (i = 0; i < n; i += chunk) ecl_listen_pcm16(&st, &ls, pcm + i, i + chunk < n ? chunk : n - i);
  printf("clip,%d\n", ecl_listen_finish(&st, &ls));
  return 0;
}
""")
    exe = tmp_path / "chunks"
    subprocess.run(
        [
            "cc",
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-ffp-contract=off",
            "-I",
            c,
            "-o",
            exe,
            prog,
            c / "embedclf.c",
            c / "embedclf_frontend.c",
            c / "embedclf_network.c",
            c / "embedclf_kernels.c",
            c / "embedclf_events.c",
            "-lm",
        ],
        check=True,
    )

    def lines(text):  # windows and events in order (the demo prints events after a chunk)
        rows = text.splitlines()
        return [r for r in rows if not r.startswith("event,")], [
            r for r in rows if r.startswith("event,")
        ]

    long_pcm = tmp_path / "long.pcm"  # several clips in a row: events come and go
    long_pcm.write_bytes(b"".join(p.read_bytes() for p in clips[0][:6]))
    for path in (clips[0][0], long_pcm):
        outputs = {
            chunk: subprocess.run(
                [exe, path, str(chunk)], capture_output=True, text=True, check=True
            ).stdout
            for chunk in (1, 77, 320, 1 << 20)
        }
        assert len(set(outputs.values())) == 1
        _, _, demo = run_demo(c, path)
        assert lines(outputs[1]) == lines(demo)
    assert lines(demo)[1]  # the long stream has an event


def test_cortex_m4_firmware_prints_what_the_host_build_prints(exported, clips):
    _skip_without("m4")
    _, out, _ = exported
    build(out / "c", "m4")
    for path in clips[0][:3]:
        assert run_demo(out / "c", path, "m4")[2] == run_demo(out / "c", path)[2]


def test_ops_outside_the_c_library_are_named_with_the_path_that_still_works():
    from embedclf.models.architectures import sbcnn

    rep = np.random.default_rng(0).standard_normal((10, 16, 20, 1)).astype("float32")
    with pytest.raises(UnsupportedNetworkError, match="MAX_POOL_2D.*TensorFlow Lite Micro"):
        network_source(to_int8_tflite(sbcnn((16, 20, 1), 3, width=0.25), rep))


def test_missing_tools_are_a_clear_error(exported, monkeypatch):
    from embedclf.distill.verify import ToolMissingError

    _, out, _ = exported
    monkeypatch.setenv("PATH", os.devnull)
    with pytest.raises(ToolMissingError, match="arm-none-eabi-gcc.*not found"):
        build(out / "c", "m4")


def test_report_device_section_is_measured_on_the_linked_firmware(exported):
    """Flash and RAM from the map file of the linked Cortex-M4 image, checked against the
    image's own size and the library's static buffers."""
    _skip_without("m4")
    _, out, report = exported
    d = report["device"]
    assert d["measured"] is True
    # the library holds the weights and one scratch buffer sized at export time
    assert d["flash_bytes"] > report["c_library"]["weight_bytes"]
    assert d["static_ram_bytes"] > report["c_library"]["scratch_bytes"]
    assert d["flash_bytes"] < d["image_flash_bytes"]  # the demo's printf and newlib on top
    assert 0 < d["stack_bytes"] < 4096
    assert d["ram_bytes"] == d["static_ram_bytes"] + d["stack_bytes"]
    # the whole firmware: linked sections, the heap stdio took and the program's peak stack
    parts = d["image_static_ram_bytes"], d["image_heap_bytes"], d["image_stack_bytes"]
    assert d["image_ram_bytes"] == sum(parts) and min(parts[0], parts[2]) > 0
    # files go through open/read/write and stdout has a static buffer: newlib never mallocs
    # (its malloc would claim memory up to a page boundary)
    assert d["image_heap_bytes"] == 0
    assert d["stack_bytes"] <= d["image_stack_bytes"] < 8192
    assert d["n_windows"] == 10  # 5 s of audio, 1 s windows every 0.5 s (trailing one padded)
    assert d["instructions_per_window"] > report["macs_per_window"]


def test_frontend_buffers_share_the_network_scratch(exported, tmp_path):
    """The library's only statics are one work area (the FFT buffers and the activations,
    never live at once); the state's frame ring holds int8 values."""
    _skip_without("m4")
    student, out, report = exported
    c = tmp_path / "c"
    subprocess.run(["cp", "-r", out / "c", c], check=True)
    build(c, "m4")
    text = (c / "embedclf_demo.map").read_text()
    text = text[text.index("Linker script and memory map") :]
    statics = re.findall(
        r"^ \.(?:bss|data)\.(\S+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+) m4-obj/embedclf\w*\.o", text, re.M
    )
    assert [name for name, _ in statics] == ["ecl_work"]
    n_fft = student.student_.frontend_.n_fft
    n_mels, n_frames = report["input_shape"][:2]
    frontend = 4 * (n_fft + n_fft // 2 + 1)  # float re, im and power
    assert int(statics[0][1], 16) == max(report["c_library"]["scratch_bytes"], frontend)
    # float samples of one frame, int8 frames and a float maximum per frame, then counters
    state = re.search(r"\.bss\.state\s+0x[0-9a-f]+\s+0x([0-9a-f]+)", text)
    assert int(state.group(1), 16) < 4 * n_fft + (n_mels + 4) * n_frames + 128


def test_budget_uses_the_measured_device_figures(exported, data, tmp_path):
    _skip_without("m4")
    from embedclf.distill import BudgetError

    student, _, report = exported
    X, _, _, _ = data
    ram_kb = report["device"]["ram_bytes"] / 1024
    with pytest.raises(BudgetError, match=r"RAM \(measured, C library\)"):
        export(student, tmp_path / "small", X[:4], max_ram_kb=ram_kb - 1)
    assert not (tmp_path / "small" / "report.json").exists()


def test_verify_student_counts_every_check(exported, data):
    from embedclf.distill.verify import verify_student

    student, out, _ = exported
    _, _, Xt, _ = data
    m4 = not missing_tools("m4")
    res = verify_student(student, out, Xt[:3], m4=m4)
    assert res["n_clips"] == 3 and res["n_windows"] >= 3
    assert res["outputs_equal_tflm"] == res["n_windows"]
    assert res["clip_agreement_python"] == 3
    assert 0 <= res["clip_agreement_predict"] <= 3  # float network: may differ by quantisation
    assert res["feature_max_step"] <= 1
    if m4:
        assert res["m4_equal_host"] == 3 and res["device"]["n_windows"] == 10


def test_cli_verify_prints_the_table_and_writes_verify_json(exported, data, tmp_path, capsys):
    _skip_without("m4")
    import soundfile as sf

    from embedclf.cli import main

    _, out, _ = exported
    _, _, Xt, _ = data
    paths = []
    for i, w in enumerate(Xt[:2]):
        paths.append(str(tmp_path / f"c{i}.wav"))
        sf.write(paths[-1], w, SR)
    assert main(["verify", str(out), *paths]) == 0
    text = capsys.readouterr().out
    assert re.search(r"Cortex-M4 \(QEMU\) output = host output +2 of 2 clips", text)
    assert re.search(r"int8 features, C = Python +\d+ of \d+ values \(max step [01]\)", text)
    saved = json.loads((out / "verify.json").read_text())
    assert saved["outputs_equal_tflm"] == saved["n_windows"] > 0
    assert saved["device"]["flash_bytes"] > 0
    assert saved["features_compared"] and saved["feature_max_step"] <= 1
    shape = json.loads((out / "report.json").read_text())["input_shape"]
    assert saved["feature_values"] == saved["n_windows"] * int(np.prod(shape))


def test_verify_recomputes_the_students_python_features_from_the_export_alone(exported, clips):
    """report.json's frontend section gives the student's own int8 input, bit for bit."""
    from embedclf.distill.verify import python_int8_features

    student, out, _ = exported
    model = (out / "model.tflite").read_bytes()
    spec = json.loads((out / "report.json").read_text())["frontend"]
    for wave in clips[1]:
        np.testing.assert_array_equal(
            python_int8_features(spec, Int8Model(model), wave), _python_int8(student, model, wave)
        )


def test_cli_verify_fails_when_the_c_features_are_not_pythons(exported, data, tmp_path, capsys):
    """A C library whose standardisation differs from the student's: verify says so, exit 1."""
    _skip_without("m4")
    import shutil

    import soundfile as sf

    from embedclf.cli import main

    _, out, _ = exported
    _, _, Xt, _ = data
    other = tmp_path / "export"
    shutil.copytree(out, other)
    report = json.loads((other / "report.json").read_text())
    report["frontend"]["feature_mean"][3] -= 2.0  # Python's reference no longer the C one's
    (other / "report.json").write_text(json.dumps(report))
    sf.write(tmp_path / "c0.wav", Xt[0], SR)
    assert main(["verify", str(other), str(tmp_path / "c0.wav")]) == 1
    saved = json.loads((other / "verify.json").read_text())
    assert saved["feature_values_differing"] > 0 and saved["feature_max_step"] > 1
    assert saved["outputs_equal_tflm"] == saved["n_windows"]  # the network still agrees
    capsys.readouterr()


def test_cli_verify_names_a_missing_emulator(exported, tmp_path, capsys, monkeypatch):
    from embedclf.cli import main

    _, out, _ = exported
    monkeypatch.setenv("PATH", os.devnull)
    assert main(["verify", str(out), str(tmp_path / "x.wav")]) == 1
    err = capsys.readouterr().err
    assert "not found on PATH" in err and "Traceback" not in err


def test_export_of_an_uncompilable_student_names_the_op_and_drops_an_old_library(data, tmp_path):
    from embedclf.distill import mcu_frontend
    from embedclf.models import KerasCNN

    X, y, _, _ = data
    cnn = KerasCNN(
        architecture="sbcnn",
        width=0.25,
        sr=SR,
        frontend=mcu_frontend(),
        window_top_db=80.0,
        epochs=1,
        random_state=0,
    ).fit(X[:8], y[:8])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "embedclf_network.c").write_text("/* an earlier student's network */")
    report = export(cnn, tmp_path, X[:4])
    assert report["c_library"]["folder"] is None
    assert "MAX_POOL_2D" in report["c_library"]["reason"]
    assert "TensorFlow Lite Micro" in report["c_library"]["reason"]
    assert report["device"]["measured"] is False
    assert not (tmp_path / "c").exists()  # never a library of another model next to this one
    assert (tmp_path / "model_data.c").is_file()  # the TFLM path is written as before


def test_frontend_header_compiles_as_strict_c_and_holds_the_students_numbers(exported, tmp_path):
    """frontend.h is for people writing their own firmware: it must compile on its own (no
    ``2f``-style literals) and its numbers, read by C, must be the student's in float32."""
    import shutil

    student, out, _ = exported
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include "frontend.h"\n'
        "int main(void) {\n"
        '  printf("%.9g %.9g %.9g\\n", (double)EMBEDCLF_POWER, (double)EMBEDCLF_REF,'
        " (double)EMBEDCLF_WINDOW_TOP_DB);\n"
        '  for (int i = 0; i < EMBEDCLF_N_FFT; i++) printf("%.9g ", (double)kWindow[i]);\n'
        '  printf("\\n");\n'
        '  for (int i = 0; i < EMBEDCLF_N_MELS; i++) printf("%.9g ", (double)kMean[i]);\n'
        '  printf("\\n%s\\n", kLabels[0]);\n  return 0;\n}\n'
    )
    flags = ["-std=c99", "-pedantic", "-Wall", "-Wextra", "-Werror", "-Wno-unused-const-variable"]
    exe = tmp_path / "frontend_check"
    subprocess.run(
        [cc, *flags, "-I", str(out), str(tmp_path / "main.c"), "-o", str(exe)],
        check=True,
        capture_output=True,
    )
    lines = subprocess.run([exe], capture_output=True, text=True, check=True).stdout.splitlines()
    fe = student.student_.frontend_
    # %.9g round-trips a float32: read back, the C values are the student's in float32
    read = lambda line: np.array([float(v) for v in line.split()], np.float32)  # noqa: E731
    ref = fe.ref if isinstance(fe.ref, (int, float)) else 1.0
    want = np.array([fe.power, ref, student.student_.window_top_db or 0], np.float32)
    np.testing.assert_array_equal(read(lines[0]), want)
    np.testing.assert_array_equal(read(lines[1]), np.asarray(fe.window_, np.float32))
    np.testing.assert_array_equal(
        read(lines[2]), np.asarray(student.student_.feature_mean_, np.float32)
    )
    assert lines[3] == str(student.classes_[0])
