# standin: every target sets up .venv itself.
#   make bench            run the quick suite, write runs/quick/{results.jsonl,report.md,tb/}
#   make test             run the whole test suite
#   make tb               serve TensorBoard on 127.0.0.1 over runs/
# Torch build (see README, "Choosing a torch build"):
#   TORCH=...             pip requirement for torch; default: the CPU build on a machine without an
#                         NVIDIA GPU, the default PyPI build otherwise
#   TORCH_INDEX=URL       extra wheel index to take torch from (e.g. a CUDA or CPU wheel index)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SUITE  ?= quick
PORT   ?= 6006
TORCH_VERSION ?= 2.13.0
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)
ifeq ($(HAS_GPU),yes)
TORCH ?= torch==$(TORCH_VERSION)
else
TORCH ?= torch==$(TORCH_VERSION)+cpu
endif
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
STAMP := $(VENV)/.standin-installed

.PHONY: bench test tb lint setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[setup] installing $(TORCH) into $(VENV)"
	@$(PIP) install $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) "$(TORCH)" \
	  || { echo "[setup] $(TORCH) not found; falling back to torch==$(TORCH_VERSION) (may be a large CUDA build; set TORCH_INDEX to a CPU wheel index to avoid it)"; \
	       $(PIP) install "torch==$(TORCH_VERSION)"; }
	@echo "[setup] installing standin, its exact solver (HiGHS), Ray, the peer PPO (Stable-Baselines3) and its dev tools"
	@$(PIP) install -e ".[dev,exact,ray,peers]"
	@touch $@

bench: $(STAMP)
	$(BIN)/standin bench $(SUITE)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check .

tb: $(STAMP)
	$(BIN)/standin tb runs --port $(PORT)

clean:
	rm -rf $(VENV) runs .pytest_cache
