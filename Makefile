# cluster-image-policy: build, test and demo.
#
#   make test   fmt check, clippy -D warnings, unit tests, the wasm build and e2e.bats
#   make demo   the seed scenario, step by step, on real admission requests
#
# The e2e tests and the demo run the module with the real `kwctl` when it is on the PATH
# (on annotated-policy.wasm), and with the project's kwctl-compatible runner otherwise.

SOURCE_FILES := $(shell find src -type f -name '*.rs')
RUNNER_SOURCES := $(shell find runner -type f \( -name '*.rs' -o -name Cargo.toml \) -not -path '*/target/*')
RUNNER := target/runner/cip-runner
KWCTL_BIN := $(shell command -v kwctl 2>/dev/null)

ifeq ($(KWCTL_BIN),)
RUN_KWCTL := $(CURDIR)/$(RUNNER)
RUN_POLICY := $(CURDIR)/policy.wasm
RUN_DEPS := policy.wasm $(RUNNER)
else
RUN_KWCTL := $(KWCTL_BIN)
RUN_POLICY := $(CURDIR)/annotated-policy.wasm
RUN_DEPS := annotated-policy.wasm
endif

.PHONY: test fmt lint unit-tests e2e-tests demo runner clean

WASM_OPT := $(shell command -v wasm-opt 2>/dev/null)
WASM_FEATURES := --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int --enable-mutable-globals

# The module is shrunk with binaryen's wasm-opt (as Kubewarden's own policy CI does) when it
# is installed; .ci/run installs it.
policy.wasm: $(SOURCE_FILES) Cargo.toml Cargo.lock
	cargo build --locked --target=wasm32-wasip1 --release -p cluster-image-policy
ifeq ($(WASM_OPT),)
	@echo "wasm-opt (binaryen) is not installed: policy.wasm is not size-optimised"
	cp target/wasm32-wasip1/release/cluster_image_policy.wasm policy.wasm
else
	wasm-opt -Oz $(WASM_FEATURES) target/wasm32-wasip1/release/cluster_image_policy.wasm -o policy.wasm
endif

annotated-policy.wasm: policy.wasm metadata.yml README.md
	@command -v kwctl >/dev/null 2>&1 || { \
	  echo "annotated-policy.wasm needs 'kwctl annotate', and kwctl is not on the PATH."; \
	  echo "Install kwctl from https://github.com/kubewarden/kubewarden-controller/releases,"; \
	  echo "or use policy.wasm, which 'make test' and 'make demo' run with the project's runner."; \
	  exit 1; }
	kwctl annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm

runner: $(RUNNER)

$(RUNNER): $(RUNNER_SOURCES) Cargo.toml Cargo.lock
	cargo build --locked --profile runner -p cip-runner

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --locked --workspace --all-targets -- -D warnings

unit-tests:
	cargo test --locked -p cluster-image-policy
	cargo test --locked --profile runner -p cip-runner

e2e-tests: $(RUN_DEPS)
	KWCTL="$(RUN_KWCTL)" POLICY="$(RUN_POLICY)" bats e2e.bats

test: fmt lint unit-tests e2e-tests

demo: $(RUN_DEPS)
	@KWCTL="$(RUN_KWCTL)" POLICY="$(RUN_POLICY)" bash scripts/demo.sh

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm
