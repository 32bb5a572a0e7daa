# The two entry points a new user needs: `make demo` and `make test`.
# Both run scripts/setup.sh first, which is quick when nothing is missing.
BUILD ?= build
JOBS ?= $(shell nproc)
TORCH_CMAKE = $(CURDIR)/.venv/lib/python3.11/site-packages/torch/share/cmake

.PHONY: setup build demo test bench clean

setup:
	@bash scripts/setup.sh

build: setup
	@[ -f $(BUILD)/build.ninja ] || cmake -S . -B $(BUILD) -G Ninja -DCMAKE_PREFIX_PATH="$(TORCH_CMAKE)"
	@cmake --build $(BUILD) -j $(JOBS)

demo: build
	@bash scripts/demo.sh $(BUILD)

test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE slow

bench: build
	@bash bench/run_all.sh $(BUILD)

clean:
	rm -rf $(BUILD)
