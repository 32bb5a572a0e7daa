# The two entry points a new user needs: `make demo` and `make test`.
# Both run scripts/setup.sh first, which is quick when nothing is missing.
BUILD ?= build
JOBS ?= $(shell nproc)
TORCH_CMAKE = $(CURDIR)/.venv/lib/python3.11/site-packages/torch/share/cmake

.PHONY: setup build demo demo-moe test bench clean

setup:
	@bash scripts/setup.sh

build: setup
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_PREFIX_PATH="$(TORCH_CMAKE)"
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

# The same job on DeepSeek's architecture (MLA + DeepSeekMoE, routing replay).
demo-moe: build
	@bash scripts/demo.sh $(BUILD) r1-zero-moe-tiny

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

bench: build
	@bash bench/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)
