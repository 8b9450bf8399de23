# Two entry points: `make demo` and `make test`. Both (re)create .venv when
# pyproject.toml changes, so a fresh clone needs nothing but Python 3.10+.
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test docs bench clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test,docs,parquet,birdnet,openl3,cnn,mcu,bench,dask,studio]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/embedclf demo --out build/demo

# The numeric guarantees run twice: as the CPU is, then with oneDNN and numpy
# held to AVX2, so that a result cannot rest on one machine's kernel choice. The C
# library's tests need a C compiler, the Arm cross compiler and QEMU:
# tools/system-deps.sh installs them when missing (as root), else they skip.
test: $(STAMP)
	sh tools/system-deps.sh
	$(VENV)/bin/python -m pytest
	ONEDNN_MAX_CPU_ISA=AVX2 NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" \
		$(VENV)/bin/python -m pytest -m numeric -p no:cacheprovider

# The docs site (docs/, mkdocs.yml) into build/site; any warning is an error.
docs: $(STAMP)
	$(VENV)/bin/mkdocs build --strict

bench: $(STAMP)
	$(VENV)/bin/python benchmarks/logmel_speed.py
	$(VENV)/bin/python benchmarks/accuracy.py
	$(VENV)/bin/python benchmarks/urbansound8k.py --pipelines logmel-linear,birdnet-linear
	$(VENV)/bin/python benchmarks/fewshot.py
	$(VENV)/bin/python benchmarks/cnn_train.py
	$(VENV)/bin/python benchmarks/distill_tradeoff.py --widths 1.0,2.0 --folds 1

clean:
	rm -rf $(VENV) build .pytest_cache
