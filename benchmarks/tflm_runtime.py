"""The TFLM runtime's own size on a Cortex-M4, for the comparison with the exported C library.

Builds TensorFlow Lite Micro from source for the same target as the C library
(``arm-none-eabi-g++ -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16
-mfloat-abi=hard -Os``, sections garbage-collected), as a firmware uses it: the
student's ``.tflite`` as a C array, a ``MicroMutableOpResolver`` with exactly the
student's five ops (reference kernels, no CMSIS-NN), a static arena, one
``Invoke``. TFLM's release settings: ``TF_LITE_STATIC_MEMORY``,
``TF_LITE_STRIP_ERROR_STRINGS``, ``NDEBUG``, no RTTI or exceptions. The firmware
runs in QEMU (``mps2-an386``, the C library's start-up code and linker script) on
an all-zero window; its scores are checked against the Python TFLM interpreter's.

Measured from the linker map: the flash of TFLM's own objects (code and
constants; newlib, libm and libgcc left out, as for the C library), the RAM of
its statics and of the interpreter and op resolver objects, and the arena the
interpreter reports using on this 32-bit target. The model array is counted
apart. Writes ``benchmarks/results/tflm_runtime.json``, which
``clib_esc10.py --render-only`` adds to ``clib_esc10.md``.

The sources are not downloaded here: ``--sources`` is a folder holding
``tflite-micro/`` (with ``tensorflow/`` and ``signal/``), ``flatbuffers/include``,
``gemmlowp/`` (``fixedpoint/``) and ``ruy/`` (``ruy/profiler/``), and optionally
``sources.json`` naming their versions (copied into the result).

Usage: python benchmarks/tflm_runtime.py --sources DIR --model model.tflite [--build DIR]
       [--model-note TEXT]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from embedclf.distill.export import tflm_outputs
from embedclf.distill.verify import map_sizes, qemu_command
from embedclf.files import atomic_write_data

HERE = Path(__file__).resolve().parent
OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "MEAN", "FULLY_CONNECTED", "SOFTMAX")
ARENA_BYTES = 32768  # static arena of the firmware; the used part is reported

MAIN = r"""
#include <cstdio>
#include <cstdint>
#include <cstring>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

extern const unsigned char g_model[];
alignas(16) static uint8_t arena[ARENA_BYTES];

int main(int argc, char** argv) {
  const tflite::Model* model = tflite::GetModel(g_model);
  static tflite::MicroMutableOpResolver<5> resolver;
  resolver.AddConv2D();
  resolver.AddDepthwiseConv2D();
  resolver.AddMean();
  resolver.AddFullyConnected();
  resolver.AddSoftmax();
  static tflite::MicroInterpreter interpreter(model, resolver, arena, ARENA_BYTES);
  if (interpreter.AllocateTensors() != kTfLiteOk) { std::printf("allocate failed\n"); return 1; }
  TfLiteTensor* in = interpreter.input(0);
  if (argc < 2) return 2;
  FILE* f = std::fopen(argv[1], "rb");
  if (!f || std::fread(in->data.int8, 1, in->bytes, f) != in->bytes) return 1;
  std::fclose(f);
  if (interpreter.Invoke() != kTfLiteOk) { std::printf("invoke failed\n"); return 1; }
  const TfLiteTensor* out = interpreter.output(0);
  for (size_t i = 0; i < out->bytes; ++i) std::printf("%s%d", i ? "," : "", out->data.int8[i]);
  std::printf("\narena_used_bytes,%u\n", (unsigned)interpreter.arena_used_bytes());
  return 0;
}
"""

MAKEFILE = r"""
.RECIPEPREFIX := >
S = @SOURCES@
T = $(S)/tflite-micro
CXX = arm-none-eabi-g++
CC = arm-none-eabi-gcc
FLAGS = -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 -mfloat-abi=hard -Os \
  -ffunction-sections -fdata-sections
CXXFLAGS = $(FLAGS) -std=c++17 -fno-rtti -fno-exceptions -fno-threadsafe-statics \
  -fno-unwind-tables -DTF_LITE_STATIC_MEMORY -DTF_LITE_STRIP_ERROR_STRINGS -DNDEBUG \
  -DARENA_BYTES=@ARENA@ -I$(T) -I$(S)/flatbuffers/include -I$(S)/gemmlowp -I$(S)/ruy -I.
TFLM_SRC = $(filter-out %_test.cc %test_helpers.cc %test_helper_custom_ops.cc \
    %fake_micro_context.cc %mock_micro_graph.cc %recording_micro_allocator.cc, \
    $(wildcard $(T)/tensorflow/lite/micro/*.cc)) \
  $(wildcard $(T)/tensorflow/lite/micro/memory_planner/*_planner.cc) \
  $(addprefix $(T)/tensorflow/lite/micro/arena_allocator/, \
    non_persistent_arena_buffer_allocator.cc persistent_arena_buffer_allocator.cc \
    single_arena_buffer_allocator.cc) \
  $(wildcard $(T)/tensorflow/lite/micro/tflite_bridge/*.cc) \
  $(T)/tensorflow/lite/core/api/flatbuffer_conversions.cc \
  $(T)/tensorflow/lite/core/api/tensor_utils.cc \
  $(T)/tensorflow/lite/core/c/common.cc \
  $(T)/tensorflow/compiler/mlir/lite/core/api/error_reporter.cc \
  $(T)/tensorflow/compiler/mlir/lite/schema/schema_utils.cc \
  $(addprefix $(T)/tensorflow/lite/kernels/internal/, quantization_util.cc common.cc \
    portable_tensor_utils.cc runtime_shape.cc tensor_ctypes.cc) \
  $(T)/tensorflow/lite/kernels/kernel_util.cc \
  $(addprefix $(T)/tensorflow/lite/micro/kernels/, conv.cc conv_common.cc depthwise_conv.cc \
    depthwise_conv_common.cc fully_connected.cc fully_connected_common.cc reduce.cc \
    reduce_common.cc softmax.cc softmax_common.cc kernel_util.cc micro_tensor_utils.cc)
OBJ = $(patsubst $(T)/%.cc,obj/tflm/%.o,$(TFLM_SRC))

tflm.elf: obj/main.o obj/model.o obj/startup.o $(OBJ)
> $(CXX) $(FLAGS) --specs=rdimon.specs -T mps2_an386.ld -Wl,--gc-sections \
>   -Wl,-Map=tflm.map -o $@ obj/main.o obj/model.o obj/startup.o $(OBJ)
obj/tflm/%.o: $(T)/%.cc
> @mkdir -p $(dir $@)
> $(CXX) $(CXXFLAGS) -c -o $@ $<
obj/%.o: %.cc
> @mkdir -p obj
> $(CXX) $(CXXFLAGS) -c -o $@ $<
obj/startup.o: startup.c
> @mkdir -p obj
> $(CC) $(FLAGS) -std=c99 -c -o $@ $<
"""


def _write_if_changed(path, text):
    """Keep make's timestamps when nothing changed (an incremental rebuild)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sources", required=True, help="folder with the TFLM sources (see above)")
    ap.add_argument("--model", required=True, help="the student's int8 .tflite")
    ap.add_argument("--build", default=str(HERE.parent / "build" / "tflm"))
    ap.add_argument("--out", default=str(HERE / "results"))
    ap.add_argument("--model-note", default="", help="where the model came from (recorded)")
    args = ap.parse_args()
    for tool in ("make", "arm-none-eabi-g++", "qemu-system-arm"):
        if shutil.which(tool) is None:
            print(f"{tool} not found; nothing measured", file=sys.stderr)
            return 1
    sources = Path(args.sources).resolve()
    build = Path(args.build)
    build.mkdir(parents=True, exist_ok=True)
    model = Path(args.model).read_bytes()
    rows = ",\n".join(
        ", ".join(str(b) for b in model[i : i + 16]) for i in range(0, len(model), 16)
    )
    _write_if_changed(
        build / "model.cc", f"alignas(16) extern const unsigned char g_model[] = {{\n{rows}\n}};\n"
    )
    _write_if_changed(build / "main.cc", MAIN)
    _write_if_changed(
        build / "Makefile",
        MAKEFILE.replace("@SOURCES@", str(sources)).replace("@ARENA@", str(ARENA_BYTES)),
    )
    m4 = resources.files("embedclf.distill") / "c" / "m4"
    _write_if_changed(build / "startup.c", m4.joinpath("startup.c").read_text())
    _write_if_changed(build / "mps2_an386.ld", m4.joinpath("mps2_an386.ld").read_text())
    subprocess.run(["make", "-C", str(build), "tflm.elf"], check=True, stdout=subprocess.DEVNULL)

    # one window of zeros: the firmware's scores against the Python TFLM interpreter's
    shape = (1, *tflm_input_shape(model))
    np.zeros(shape, np.int8).tofile(build / "in.i8")
    r = subprocess.run(
        qemu_command("tflm.elf", "in.i8"),
        cwd=build,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    lines = r.stdout.strip().splitlines()
    scores = [int(v) for v in lines[0].split(",")]
    arena_used = int(lines[1].split(",")[1])
    expected = tflm_outputs(model, np.zeros(shape, np.int8), 256 * 1024)[0].tolist()

    sizes = map_sizes((build / "tflm.map").read_text())
    flash_sections = (".text", ".ARM.extab", ".ARM.exidx", ".data")

    def total(select, sections):
        return sum(v for (obj, sec), v in sizes.items() if select(obj) and sec in sections)

    tflm_flash = total(lambda o: o.startswith("obj/tflm/"), flash_sections)
    tflm_statics = total(lambda o: o.startswith("obj/tflm/"), (".data", ".bss"))
    main_bss = total(lambda o: o == "obj/main.o", (".bss",))
    res = {
        "ops": list(OPS),
        "runtime_flash_bytes": tflm_flash,
        # TFLM's statics plus the interpreter and op resolver objects (main's statics
        # without the arena array); the stack is not included
        "runtime_ram_bytes": tflm_statics + main_bss - ARENA_BYTES,
        "arena_used_bytes": arena_used,
        "model_bytes": len(model),
        "model_note": args.model_note,
        "model_array_flash_bytes": total(lambda o: o == "obj/model.o", flash_sections),
        "libraries_flash_bytes": total(lambda o: not o.startswith("obj/"), flash_sections),
        "outputs_equal_python_tflm": scores == expected,
        "flags": "arm-none-eabi-g++ -mcpu=cortex-m4 -mthumb -mfpu=fpv4-sp-d16 "
        "-mfloat-abi=hard -Os -ffunction-sections -fdata-sections -std=c++17 -fno-rtti "
        "-fno-exceptions -DTF_LITE_STATIC_MEMORY -DTF_LITE_STRIP_ERROR_STRINGS -DNDEBUG; "
        "--gc-sections; reference kernels",
    }
    if (sources / "sources.json").exists():
        res["sources"] = json.loads((sources / "sources.json").read_text())
    os.makedirs(args.out, exist_ok=True)
    atomic_write_data(os.path.join(args.out, "tflm_runtime.json"), json.dumps(res, indent=2) + "\n")
    print(json.dumps(res, indent=2))
    return 0 if res["outputs_equal_python_tflm"] else 1


def tflm_input_shape(model):
    """The input tensor's shape without its batch dimension."""
    from embedclf.distill.clib import parse_tflite

    return parse_tflite(model)[0]["inputs"][0]["shape"][1:]


if __name__ == "__main__":
    sys.exit(main())
