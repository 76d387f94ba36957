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

# The e2e tests and the demo run annotated-policy.wasm (its metadata grants the context-aware
# resources) with the real kwctl when it is on the PATH, and with the project's runner otherwise.
ifeq ($(KWCTL_BIN),)
RUN_KWCTL := $(CURDIR)/$(RUNNER)
ANNOTATE_DEPS := $(RUNNER)
else
RUN_KWCTL := $(KWCTL_BIN)
ANNOTATE_DEPS :=
endif
RUN_POLICY := $(CURDIR)/annotated-policy.wasm
RUN_DEPS := annotated-policy.wasm $(ANNOTATE_DEPS)

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

# Measured, not used (BENCHMARKS.md, "Lever 1: Wizer pre-initialisation"): the module
# pre-initialised at build time by `cip-runner preinit` (src/preinit.rs), for
# `target/runner/cip-runner bench --policy preinit-policy.wasm`. It was no faster.
CARGO_WASM := target/wasm32-wasip1/release/cluster_image_policy.wasm
PREINIT_WASM := target/wasm32-wasip1/release/cluster_image_policy.preinit.wasm
preinit-policy.wasm: policy.wasm $(RUNNER)
	$(RUNNER) preinit -o $(PREINIT_WASM) $(CARGO_WASM)
ifeq ($(WASM_OPT),)
	cp $(PREINIT_WASM) preinit-policy.wasm
else
	wasm-opt -Oz $(WASM_FEATURES) $(PREINIT_WASM) -o preinit-policy.wasm
endif

annotated-policy.wasm: policy.wasm metadata.yml README.md $(ANNOTATE_DEPS)
ifeq ($(KWCTL_BIN),)
	@echo "kwctl is not on the PATH: annotating with the project's kwctl-compatible runner (cip-runner annotate)."
	@echo "Install kwctl (https://github.com/kubewarden/kubewarden-controller/releases) to annotate for a release."
	$(RUNNER) annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm
else
	kwctl annotate -m metadata.yml -u README.md -o annotated-policy.wasm policy.wasm
endif

runner: $(RUNNER)

$(RUNNER): $(RUNNER_SOURCES) Cargo.toml Cargo.lock
	cargo build --locked --profile runner -p cip-runner

fmt:
	cargo fmt --all -- --check

lint:
	cargo clippy --locked --workspace --all-targets -- -D warnings

# The runner's migrate tests use the annotated module.
unit-tests: annotated-policy.wasm
	cargo test --locked -p cluster-image-policy
	cargo test --locked --profile runner -p cip-runner

e2e-tests: $(RUN_DEPS)
	KWCTL="$(RUN_KWCTL)" POLICY="$(RUN_POLICY)" bats e2e.bats

test: fmt lint unit-tests e2e-tests

demo: $(RUN_DEPS)
	@KWCTL="$(RUN_KWCTL)" POLICY="$(RUN_POLICY)" bash scripts/demo.sh

# make bench   per-request cost of policy.wasm under wasmtime, a fresh instance per request as
#              policy-server runs it (and one reused instance, as kwctl bench), against the no-op
#              module; then the native per-phase breakdown. Writes the generated blocks of
#              BENCHMARKS.md (the rest of the file is kept). BENCH_ARGS="--fresh 50" etc. are passed on.
#              The breakdown runs without RUST_BACKTRACE: natively anyhow would capture a backtrace for
#              every error regorus' parser makes while it backtracks (a quarter of a rego-20 request's
#              instructions under callgrind); in wasm there is no backtrace and the module gets no
#              environment.
.PHONY: bench
NOOP_WASM := target/wasm32-wasip1/release/noop_policy.wasm
NOOP_SOURCES := $(shell find runner/noop-policy -type f \( -name '*.rs' -o -name Cargo.toml \) -not -path '*/target/*')
BENCH_ARGS ?=

$(NOOP_WASM): $(NOOP_SOURCES) Cargo.toml Cargo.lock
	cargo build --locked --target wasm32-wasip1 --release -p noop-policy

bench: policy.wasm $(NOOP_WASM) $(RUNNER)
	$(RUNNER) bench --policy policy.wasm --noop $(NOOP_WASM) --output BENCHMARKS.md $(BENCH_ARGS)
	env -u RUST_BACKTRACE -u RUST_LIB_BACKTRACE cargo run --locked --profile runner -p cip-runner --example breakdown -- --output BENCHMARKS.md

clean:
	cargo clean
	rm -f policy.wasm annotated-policy.wasm preinit-policy.wasm
