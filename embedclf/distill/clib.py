"""A self-contained C99 library for an exported student: frontend, network, streaming API.

The int8 ``.tflite`` is compiled to C: each operator becomes a call to an
int8 kernel (``c/embedclf_kernels.c``) with TensorFlow Lite's quantisation
arithmetic, its weights ``const`` arrays and its per-channel multipliers and
shifts computed here exactly as TFLite computes them when it prepares the
model. Activations live in one static scratch buffer sized here, which the
frontend's FFT buffers share (they are never live at the same time). The
log-mel frontend (``c/embedclf.c``) computes the network's int8 input from
16-bit PCM as the Python frontend does, frame by frame, keeping a ring of
int8 frames, and pools window scores into a clip label as the student was
trained to. ``c/embedclf_events.c`` turns the window scores into sound events
as :class:`embedclf.stream.Recognizer` does, with the settings export writes
to ``embedclf_events_config.h`` (:mod:`embedclf.distill.cevents`).

The library needs no heap, no TensorFlow Lite Micro and nothing from the C
library beyond ``<math.h>`` (``roundf``, ``rintf``, ``frexp``, ``floor``),
``<string.h>`` and ``<stdint.h>``.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np

from ..exceptions import UnsupportedNetworkError  # re-exported
from .cevents import events_config_header
from .csource import c_float_literal

__all__ = [
    "C_LIBRARY_FOLDER",
    "c_library_for_export",
    "c_files_relative",
    "SUPPORTED_OPS",
    "UnsupportedNetworkError",
    "quantize_multiplier",
    "parse_tflite",
    "network_source",
    "frontend_source",
    "c_library_files",
    "C_TEMPLATES",
]

#: the export's sub-folder holding the C library
C_LIBRARY_FOLDER = "c"

#: the operators the C library compiles (TFLM runs the others)
SUPPORTED_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX")

#: files copied as they are from the package into the library folder
C_TEMPLATES = (
    "embedclf_kernels.h",
    "embedclf_kernels.c",
    "embedclf.h",
    "embedclf.c",
    "embedclf_events.h",
    "embedclf_events.c",
    "demo.c",
    "check_network.c",
    "Makefile",
    "m4/startup.c",
    "m4/mps2_an386.ld",
)

_POOLING_CODES = {"mean": 0, "logmean": 1, "vote": 2}


def _round_half_away(x):
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


def quantize_multiplier(real):
    """``(multiplier, shift)``, ``real ≈ multiplier · 2^(shift - 31)``, as TFLite computes it.

    The significand is rounded half away from zero to 31 bits; a multiplier
    too small to represent (``shift < -31``) becomes ``(0, 0)``.

    Parameters
    ----------
    real : float

    Returns
    -------
    multiplier : int
    shift : int

    Examples
    --------
    >>> from embedclf.distill.clib import quantize_multiplier
    >>> quantize_multiplier(0.5)
    (1073741824, 0)
    >>> quantize_multiplier(3.0)
    (1610612736, 2)
    """
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    q_fixed = int(_round_half_away(q * (1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return q_fixed, shift


def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

    return fb


def parse_tflite(model_bytes):
    """The operators of a single-subgraph int8 ``.tflite``, with their tensors.

    Parameters
    ----------
    model_bytes : bytes

    Returns
    -------
    list of dict
        One per operator in execution order: ``op`` (name), ``inputs`` and
        ``outputs`` (tensor dicts with ``index``, ``shape``, ``scale``,
        ``zero_point`` and ``data`` for constants) and ``options`` (the
        builtin options the kernels need).

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import to_int8_tflite
    >>> from embedclf.distill.clib import parse_tflite
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> ops = parse_tflite(to_int8_tflite(strided_ds((16, 20, 1), 3), rep))
    >>> ops[0]["op"], ops[0]["inputs"][0]["shape"], ops[-1]["op"]
    ('CONV_2D', [1, 16, 20, 1], 'SOFTMAX')
    """
    fb = _schema()
    names = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
    dtypes = {
        fb.TensorType.INT8: np.int8,
        fb.TensorType.INT32: np.int32,
        fb.TensorType.FLOAT32: np.float32,
        fb.TensorType.UINT8: np.uint8,
        fb.TensorType.INT16: np.int16,
        fb.TensorType.INT64: np.int64,
    }
    m = fb.Model.GetRootAsModel(model_bytes, 0)
    if m.SubgraphsLength() != 1:
        raise UnsupportedNetworkError(
            f"the model has {m.SubgraphsLength()} subgraphs; the C library compiles one"
        )
    g = m.Subgraphs(0)

    def tensor(i):
        if i < 0:
            return None
        t = g.Tensors(i)
        q = t.Quantization()
        buf = m.Buffers(t.Buffer())
        data = None
        if buf is not None and buf.DataLength():
            raw = buf.DataAsNumpy().tobytes()
            dtype = dtypes.get(t.Type())
            if dtype is None:
                raise UnsupportedNetworkError(f"tensor {t.Name().decode()!r} has type {t.Type()}")
            data = np.frombuffer(raw, dtype=dtype).reshape(t.ShapeAsNumpy().tolist())
        has_q = q is not None and q.ScaleLength() > 0
        return {
            "index": i,
            "name": t.Name().decode(),
            "type": t.Type(),
            "shape": [int(d) for d in t.ShapeAsNumpy()],
            "scale": np.asarray(q.ScaleAsNumpy(), np.float32) if has_q else None,
            "zero_point": np.asarray(q.ZeroPointAsNumpy(), np.int64) if has_q else None,
            "data": data,
        }

    ops = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        code = m.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = (
            code.CustomCode().decode() if builtin == fb.BuiltinOperator.CUSTOM else names[builtin]
        )
        ops.append(
            {
                "op": name,
                "inputs": [tensor(int(i)) for i in op.InputsAsNumpy()],
                "outputs": [tensor(int(i)) for i in op.OutputsAsNumpy()],
                "options": _options(fb, name, op),
            }
        )
    if not ops:
        raise UnsupportedNetworkError("the model has no operators")
    return ops


def _options(fb, name, op):
    table = op.BuiltinOptions()
    if table is None:
        return {}
    if name == "CONV_2D":
        o = fb.Conv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": o.Padding(),
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "activation": o.FusedActivationFunction(),
        }
    if name == "DEPTHWISE_CONV_2D":
        o = fb.DepthwiseConv2DOptions()
        o.Init(table.Bytes, table.Pos)
        return {
            "padding": o.Padding(),
            "stride": (o.StrideH(), o.StrideW()),
            "dilation": (o.DilationHFactor(), o.DilationWFactor()),
            "depth_multiplier": o.DepthMultiplier(),
            "activation": o.FusedActivationFunction(),
        }
    if name == "FULLY_CONNECTED":
        o = fb.FullyConnectedOptions()
        o.Init(table.Bytes, table.Pos)
        return {"activation": o.FusedActivationFunction(), "keep_num_dims": o.KeepNumDims()}
    if name == "SOFTMAX":
        o = fb.SoftmaxOptions()
        o.Init(table.Bytes, table.Pos)
        return {"beta": o.Beta()}
    if name == "MEAN":
        o = fb.ReducerOptions()
        o.Init(table.Bytes, table.Pos)
        return {"keep_dims": o.KeepDims()}
    return {}


def _unsupported(what):
    return UnsupportedNetworkError(
        f"the C library cannot compile this network: {what}. It compiles "
        f"{', '.join(SUPPORTED_OPS)} in int8; the TensorFlow Lite Micro path "
        "(model_data.c with the ops in report.json registered) still runs it"
    )


def _scalar_q(t):
    return float(t["scale"][0]), int(t["zero_point"][0])


def _activation_range(fb, activation, scale, zero_point):
    """TFLite's int8 clamp for a fused activation (CalculateActivationRangeQuantized)."""

    def q(v):  # zero_point + round(v / scale), v / scale in float32 as TFLite
        return zero_point + int(_round_half_away(float(np.float32(v) / np.float32(scale))))

    A = fb.ActivationFunctionType
    if activation == A.NONE:
        return -128, 127
    if activation == A.RELU:
        return max(-128, q(0.0)), 127
    if activation == A.RELU6:
        return max(-128, q(0.0)), min(127, q(6.0))
    if activation == A.RELU_N1_TO_1:
        return max(-128, q(-1.0)), min(127, q(1.0))
    raise _unsupported(f"fused activation {activation}")


def _same_padding(size, kernel, stride):
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return out, total // 2


def _per_channel(input_scale, filter_scale, output_scale, n):
    """Per output channel (multiplier, shift) from float32 scales, computed in double."""
    fs = np.broadcast_to(np.asarray(filter_scale, np.float32), (n,))
    pairs = [quantize_multiplier(float(input_scale) * float(s) / float(output_scale)) for s in fs]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _mean_multiplier(input_scale, output_scale, n):
    """MEAN's multiplier and shift with the 1/n folded in, as TFLite's QuantizedMeanOrSum."""
    mult, shift = quantize_multiplier(float(input_scale) / float(output_scale))
    s = min(n.bit_length() - 1, 32, 31 + shift)
    return int((mult << s) // n), shift - s


def _c_ints(values, per_line=16):
    vals = [str(int(v)) for v in np.ravel(values)]
    return ",\n  ".join(", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line))


def _c_float(v):
    try:
        return c_float_literal(v)
    except ValueError as err:
        raise UnsupportedNetworkError(str(err)) from None


def _c_floats(values, per_line=8):
    vals = [_c_float(v) for v in np.ravel(np.asarray(values, np.float32))]
    return ",\n  ".join(", ".join(vals[i : i + per_line]) for i in range(0, len(vals), per_line))


def _check_int8(op, tensors):
    for t in tensors:
        if t is not None and t["data"] is None and t["type"] != _schema().TensorType.INT8:
            raise _unsupported(f"{op['op']} on a non-int8 tensor {t['name']!r}")


def network_source(model_bytes):
    """C source computing the int8 network of ``model_bytes`` with static memory only.

    Parameters
    ----------
    model_bytes : bytes
        A single-subgraph int8 ``.tflite`` whose operators are in
        :data:`SUPPORTED_OPS` and run one after the other.

    Returns
    -------
    source : str
        ``embedclf_network.c``: weights, layer parameters and
        ``ecl_network_run``.
    info : dict
        ``scratch_bytes`` (the activation buffer), ``input_offset`` and
        ``output_offset`` in it, ``input_shape``, ``n_classes``,
        ``input_quantization``, ``output_quantization``, ``weight_bytes``.

    Raises
    ------
    UnsupportedNetworkError
        An operator outside :data:`SUPPORTED_OPS` (named), or a graph that is
        not a chain.

    Examples
    --------
    >>> import numpy as np
    >>> from embedclf.models.architectures import strided_ds
    >>> from embedclf.distill.export import to_int8_tflite
    >>> from embedclf.distill.clib import network_source
    >>> rep = np.random.default_rng(0).standard_normal((20, 16, 20, 1)).astype("float32")
    >>> src, info = network_source(to_int8_tflite(strided_ds((16, 20, 1), 3), rep))
    >>> "ecl_network_run" in src, info["n_classes"], info["scratch_bytes"] > 0
    (True, 3, True)
    """
    fb = _schema()
    ops = parse_tflite(model_bytes)
    for op in ops:
        if op["op"] not in SUPPORTED_OPS:
            raise _unsupported(f"operator {op['op']}")
    # a chain: each operator reads the previous one's output
    chain = [ops[0]["inputs"][0]]
    for k, op in enumerate(ops):
        if k and op["inputs"][0]["index"] != chain[-1]["index"]:
            raise _unsupported(f"operator {k} ({op['op']}) does not read operator {k - 1}'s output")
        chain.append(op["outputs"][0])
    sizes = [int(np.prod(t["shape"])) for t in chain]
    # tensor k lives in half k % 2 of the scratch buffer: its input and output never overlap
    half = [max(sizes[0::2]), max(sizes[1::2])]
    offsets = [0 if k % 2 == 0 else half[0] for k in range(len(chain))]
    decls, calls = [], []
    weight_bytes = 0

    def const_array(ctype, name, values):
        nonlocal weight_bytes
        weight_bytes += int(np.asarray(values).size) * {"int8_t": 1, "int32_t": 4}[ctype]
        decls.append(
            f"static const {ctype} {name}[{max(1, np.asarray(values).size)}] = {{\n  "
            f"{_c_ints(values) if np.asarray(values).size else '0'}\n}};"
        )

    def weighted_layer(name, w, b, n_out):
        """Filter, bias, per-channel multipliers and shifts as arrays; the activation clamp."""
        mult, shift = _per_channel(in_s, w["scale"], out_s, n_out)
        const_array("int8_t", f"{name}_filter", w["data"])
        if b is not None:
            const_array("int32_t", f"{name}_bias", b["data"])
        const_array("int32_t", f"{name}_mult", mult)
        const_array("int8_t", f"{name}_shift", shift)
        return _activation_range(fb, o["activation"], out_s, out_zp)

    for k, op in enumerate(ops):
        _check_int8(op, op["inputs"] + op["outputs"])
        x, y = op["inputs"][0], op["outputs"][0]
        in_s, in_zp = _scalar_q(x)
        out_s, out_zp = _scalar_q(y)
        o, name = op["options"], f"k{k}"
        src, dst = f"scratch + {offsets[k]}", f"scratch + {offsets[k + 1]}"
        if op["op"] in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w, b = op["inputs"][1], op["inputs"][2] if len(op["inputs"]) > 2 else None
            if tuple(o["dilation"]) != (1, 1):
                raise _unsupported(f"{op['op']} with dilation {o['dilation']}")
            _, in_h, in_w, in_c = x["shape"]
            _, out_h, out_w, out_c = y["shape"]
            if op["op"] == "CONV_2D":
                k_h, k_w = w["shape"][1:3]
                if w["shape"][3] != in_c:
                    raise _unsupported("grouped CONV_2D")
                dm = 1
            else:
                k_h, k_w = w["shape"][1:3]
                dm = out_c // in_c
            sh, sw = o["stride"]
            if o["padding"] == fb.Padding.SAME:
                oh, pad_h = _same_padding(in_h, k_h, sh)
                ow, pad_w = _same_padding(in_w, k_w, sw)
            else:
                oh, ow, pad_h, pad_w = (in_h - k_h) // sh + 1, (in_w - k_w) // sw + 1, 0, 0
            if (oh, ow) != (out_h, out_w):
                raise _unsupported(f"{op['op']} output {out_h}x{out_w}, expected {oh}x{ow}")
            lo, hi = weighted_layer(name, w, b, out_c)
            decls.append(
                f"static const ecl_conv_params {name} = {{{in_h}, {in_w}, {in_c}, {out_h}, "
                f"{out_w}, {out_c}, {k_h}, {k_w}, {sh}, {sw}, {pad_h}, {pad_w}, {dm}, {-in_zp}, "
                f"{out_zp}, {lo}, {hi}, {name}_filter, "
                f"{name + '_bias' if b is not None else 'NULL'}, {name}_mult, {name}_shift}};"
            )
            fn = "ecl_conv2d" if op["op"] == "CONV_2D" else "ecl_depthwise_conv2d"
            calls.append(f"  {fn}(&{name}, {src}, {dst});")
        elif op["op"] == "FULLY_CONNECTED":
            w, b = op["inputs"][1], op["inputs"][2] if len(op["inputs"]) > 2 else None
            if w["zero_point"] is not None and np.any(w["zero_point"] != 0):
                raise _unsupported("FULLY_CONNECTED with asymmetric weights")
            n_out, n_in = w["shape"]
            lo, hi = weighted_layer(name, w, b, n_out)
            decls.append(
                f"static const ecl_fc_params {name} = {{{n_in}, {n_out}, {-in_zp}, {out_zp}, "
                f"{lo}, {hi}, {name}_filter, {name + '_bias' if b is not None else 'NULL'}, "
                f"{name}_mult, {name}_shift}};"
            )
            calls.append(f"  ecl_fully_connected(&{name}, {src}, {dst});")
        elif op["op"] == "MEAN":
            axes = sorted(int(a) for a in np.ravel(op["inputs"][1]["data"]))
            if len(x["shape"]) != 4 or axes != [1, 2]:
                raise _unsupported(f"MEAN over axes {axes} of a {len(x['shape'])}-D tensor")
            _, h, w_, c = x["shape"]
            mult, shift = _mean_multiplier(in_s, out_s, h * w_)
            decls.append(
                f"static const ecl_mean_params {name} = {{{h * w_}, {c}, {in_zp}, "
                f"{out_zp}, {mult}, {shift}}};"
            )
            calls.append(f"  ecl_mean_hw(&{name}, {src}, {dst});")
        else:  # SOFTMAX
            if out_zp != -128 or not np.isclose(out_s, 1 / 256):
                raise _unsupported("SOFTMAX with an output other than scale 1/256, zero point -128")
            real = min(float(o["beta"]) * in_s * (1 << (31 - 5)), (1 << 31) - 1.0)
            m_, left = quantize_multiplier(real)
            radius = math.floor(((1 << 5) - 1) * (1 << (31 - 5)) / (1 << left))
            decls.append(
                f"static const ecl_softmax_params {name} = {{{x['shape'][-1]}, {m_}, "
                f"{left}, {-radius}}};"
            )
            calls.append(f"  ecl_softmax(&{name}, {src}, {dst});")
    in_s, in_zp = _scalar_q(chain[0])
    out_s, out_zp = _scalar_q(chain[-1])
    source = "\n".join(
        [
            "/* Generated by embedclf: the student's int8 network (weights and layer parameters",
            " * from model.tflite; multipliers and shifts as TensorFlow Lite prepares them). */",
            '#include "embedclf_network.h"',
            "",
            "#include <stddef.h>",
            '#include "embedclf_kernels.h"',
            "",
            *decls,
            "",
            "const int8_t *ecl_network_run(int8_t *scratch) {",
            *calls,
            f"  return scratch + {offsets[-1]};",
            "}",
            "",
        ]
    )
    info = {
        "scratch_bytes": int(sum(half)),
        "input_offset": offsets[0],
        "output_offset": offsets[-1],
        "input_shape": chain[0]["shape"],
        "n_classes": int(chain[-1]["shape"][-1]),
        "input_quantization": (in_s, in_zp),
        "output_quantization": (out_s, out_zp),
        "weight_bytes": weight_bytes,
    }
    return source, info


def _twiddles(n_fft):
    """cos/sin tables for the radix-2 FFT of n_fft/2 points and the real-input split."""
    k = np.arange(n_fft // 2)
    ang = -2.0 * np.pi * k / n_fft
    return np.cos(ang).astype(np.float32), np.sin(ang).astype(np.float32)


def frontend_source(cnn, info):
    """``embedclf_network.h`` and ``embedclf_frontend.c``: sizes, constants and tables.

    Parameters
    ----------
    cnn : KerasCNN
        The fitted student (frontend, standardisation, windows, pooling).
    info : dict
        As returned by :func:`network_source`.

    Returns
    -------
    header, source : str

    Examples
    --------
    >>> from embedclf.distill.clib import frontend_source  # used by c_library_files
    >>> callable(frontend_source)
    True
    """
    from .export import check_mcu_frontend  # here: export imports this module

    fe = cnn.frontend_
    check_mcu_frontend(fe)  # nothing may depend on the whole clip
    n_fft = int(fe.n_fft)
    if n_fft & (n_fft - 1) or n_fft < 8:
        raise UnsupportedNetworkError(
            f"the C frontend needs a power-of-two n_fft of at least 8, got {n_fft}"
        )
    if float(fe.power) not in (1.0, 2.0):
        raise UnsupportedNetworkError(f"the C frontend computes power 1 or 2, got {fe.power}")
    n_frames, hop_frames = cnn.window_frames_
    n_mels = int(fe.mel_basis_.shape[0])
    if list(info["input_shape"]) != [1, n_mels, n_frames, 1]:
        raise UnsupportedNetworkError(
            f"the network's input {info['input_shape']} is not one window of "
            f"{n_mels} mel bands x {n_frames} frames"
        )
    basis = np.asarray(fe.mel_basis_, np.float32)
    starts, counts, weights = [], [], []
    for band in basis:
        nz = np.flatnonzero(band)
        first, last = (int(nz[0]), int(nz[-1]) + 1) if len(nz) else (0, 0)
        starts.append(first)
        counts.append(last - first)
        weights.extend(band[first:last])
    ref = float(fe.ref)
    ref_db = np.float32(10.0 * np.log10(max(float(fe.amin), abs(ref))))  # as power_to_db
    cos, sin = _twiddles(n_fft)
    in_s, in_zp = info["input_quantization"]
    out_s, out_zp = info["output_quantization"]
    top_db = cnn.window_top_db
    labels = ", ".join(
        '"' + str(c).replace("\\", "\\\\").replace('"', '\\"') + '"' for c in cnn.classes_
    )
    from ..models.windows import LOG_FLOOR

    header = "\n".join(
        [
            "/* Generated by embedclf: sizes and constants of this student's C library. */",
            "#ifndef EMBEDCLF_NETWORK_H_",
            "#define EMBEDCLF_NETWORK_H_",
            "",
            "#include <stdint.h>",
            "",
            f"#define ECL_SAMPLE_RATE {int(fe.sr)}",
            f"#define ECL_N_FFT {n_fft}",
            f"#define ECL_LOG2_HALF_FFT {int(np.log2(n_fft // 2))}",
            f"#define ECL_HOP_LENGTH {int(fe.hop_length)}",
            f"#define ECL_CENTER {int(fe.center)}",
            f"#define ECL_POWER {int(fe.power)}",
            f"#define ECL_N_MELS {n_mels}",
            f"#define ECL_N_MEL_WEIGHTS {len(weights)}",
            f"#define ECL_AMIN {_c_float(fe.amin)}",
            f"#define ECL_REF_DB {_c_float(ref_db)}",
            f"#define ECL_WINDOW_FRAMES {int(n_frames)}",
            f"#define ECL_HOP_FRAMES {int(hop_frames)}",
            f"#define ECL_HAS_TOP_DB {int(top_db is not None)}",
            f"#define ECL_TOP_DB {_c_float(top_db or 0.0)}",
            f"#define ECL_INPUT_SCALE {_c_float(in_s)}",
            f"#define ECL_INPUT_ZERO_POINT {in_zp}",
            f"#define ECL_OUTPUT_SCALE {_c_float(out_s)}",
            f"#define ECL_OUTPUT_ZERO_POINT {out_zp}",
            f"#define ECL_N_CLASSES {info['n_classes']}",
            f"#define ECL_POOLING {_POOLING_CODES[cnn.pooling()]} /* 0 mean, 1 logmean, 2 vote */",
            f"#define ECL_LOG_FLOOR {LOG_FLOOR!r}",
            f"#define ECL_SCRATCH_BYTES {info['scratch_bytes']}",
            f"#define ECL_INPUT_OFFSET {info['input_offset']}",
            "",
            "extern const float ecl_window[ECL_N_FFT];",
            "extern const float ecl_cos[ECL_N_FFT / 2], ecl_sin[ECL_N_FFT / 2];",
            "extern const uint16_t ecl_mel_start[ECL_N_MELS], ecl_mel_count[ECL_N_MELS];",
            "extern const float ecl_mel_weights[ECL_N_MEL_WEIGHTS];",
            "extern const float ecl_mean[ECL_N_MELS], ecl_std[ECL_N_MELS];",
            "extern const char *const ecl_labels[ECL_N_CLASSES];",
            "",
            "/* Runs the network on the int8 input at scratch + ECL_INPUT_OFFSET; returns the",
            " * int8 class scores (inside scratch). */",
            "const int8_t *ecl_network_run(int8_t *scratch);",
            "",
            "#endif",
            "",
        ]
    )
    source = "\n".join(
        [
            "/* Generated by embedclf: the student's frontend tables, as trained (float32). */",
            '#include "embedclf_network.h"',
            "",
            "const float ecl_window[ECL_N_FFT] = {\n  "
            + _c_floats(np.asarray(fe.window_, np.float32))
            + "\n};",
            "const float ecl_cos[ECL_N_FFT / 2] = {\n  " + _c_floats(cos) + "\n};",
            "const float ecl_sin[ECL_N_FFT / 2] = {\n  " + _c_floats(sin) + "\n};",
            "const uint16_t ecl_mel_start[ECL_N_MELS] = {\n  " + _c_ints(starts) + "\n};",
            "const uint16_t ecl_mel_count[ECL_N_MELS] = {\n  " + _c_ints(counts) + "\n};",
            "const float ecl_mel_weights[ECL_N_MEL_WEIGHTS] = {\n  " + _c_floats(weights) + "\n};",
            "const float ecl_mean[ECL_N_MELS] = {\n  " + _c_floats(cnn.feature_mean_) + "\n};",
            "const float ecl_std[ECL_N_MELS] = {\n  " + _c_floats(cnn.feature_std_) + "\n};",
            f"const char *const ecl_labels[ECL_N_CLASSES] = {{{labels}}};",
            "",
        ]
    )
    return header, source


def c_library_files(cnn, model_bytes, events=None):
    """Every file of the C library of a fitted student, by relative path.

    Parameters
    ----------
    cnn : KerasCNN
        The fitted student (a Distiller's ``student_``).
    model_bytes : bytes
        Its int8 ``.tflite``.
    events : dict, optional
        Event settings for ``embedclf_events.c``
        (:func:`embedclf.distill.cevents.event_settings`); default the
        Recognizer's.

    Returns
    -------
    files : dict of str to str
        Paths under the library folder (``Makefile``, ``embedclf.c``, ...).
    info : dict
        As :func:`network_source` returns it, with ``events``: the complete
        event settings.

    Examples
    --------
    >>> from embedclf.distill.clib import C_TEMPLATES
    >>> "embedclf.c" in C_TEMPLATES and "Makefile" in C_TEMPLATES
    True
    """
    net, info = network_source(model_bytes)
    header, tables = frontend_source(cnn, info)
    files = {"embedclf_network.h": header, "embedclf_network.c": net, "embedclf_frontend.c": tables}
    files["embedclf_events_config.h"], info["events"] = events_config_header(cnn, events)
    root = resources.files("embedclf.distill") / "c"
    for name in C_TEMPLATES:
        files[name] = root.joinpath(*name.split("/")).read_text()
    return files, info


def c_library_for_export(cnn, model_bytes, events=None):
    """The C library's files under :data:`C_LIBRARY_FOLDER` and its entry in ``report.json``.

    A network the library cannot compile gives no files and a report entry
    that names the operator (the TFLM files still run it).

    Parameters
    ----------
    cnn : KerasCNN
    model_bytes : bytes
    events : dict, optional
        Event settings, as :func:`c_library_files` takes them.

    Returns
    -------
    files : dict of str to str
        Paths relative to the export folder.
    report : dict

    Examples
    --------
    >>> from embedclf.distill.clib import C_LIBRARY_FOLDER
    >>> C_LIBRARY_FOLDER
    'c'
    """
    try:
        files, info = c_library_files(cnn, model_bytes, events)
    except UnsupportedNetworkError as e:
        return {}, {"folder": None, "reason": str(e)}
    report = {
        "folder": C_LIBRARY_FOLDER,
        "scratch_bytes": info["scratch_bytes"],
        "weight_bytes": info["weight_bytes"],
        "events": info["events"],
        "build": "make -C c host (system C compiler) or make -C c m4 (Cortex-M4, QEMU)",
    }
    return {f"{C_LIBRARY_FOLDER}/{name}": text for name, text in files.items()}, report


def c_files_relative(files):
    """:func:`c_library_for_export`'s files with paths relative to the library folder.

    Examples
    --------
    >>> from embedclf.distill.clib import c_files_relative
    >>> c_files_relative({"c/Makefile": "all:", "c/m4/startup.c": ""})
    {'Makefile': 'all:', 'm4/startup.c': ''}
    """
    prefix = C_LIBRARY_FOLDER + "/"
    return {name[len(prefix) :]: text for name, text in files.items() if name.startswith(prefix)}
