# bgpd: the two commands a user needs are `make demo` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: all venv deps lint typecheck layers unit integration test demo bench fuzz fuzz-speaker fuzz-confd clean dist wheel-check image image-test manuals

all: test

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# Debian packages for the integration tests (real BIRD 1.6 and 2, GoBGP, etcd, Prometheus),
# then kube-apiserver and kubectl built with Go from the Kubernetes module (tools/kube), cached
# outside the checkout: a no-op once built on this machine.
deps:
	bash scripts/install-debian-deps.sh
	bash scripts/build-kube-binaries.sh

lint: venv
	$(BIN)/ruff check bgpd reflector tests bench scripts
	$(BIN)/ruff format --check bgpd reflector tests bench scripts
	$(BIN)/mypy --strict bgpd reflector scripts/build_image.py scripts/make_manuals.py
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest tests/unit -q $(PYTEST_ARGS)

integration: venv deps
	$(BIN)/pytest tests/integration -q $(PYTEST_ARGS)

# Everything CI runs: dependencies, lint + type check + layers, then the whole suite.
test: deps venv lint
	$(BIN)/pytest tests -q $(PYTEST_ARGS)

# The OCI image archive build/image/bgpd-<version>.oci.tar (docs/image.md), as root, from
# Debian's packages and our wheel; the Debian base and the PyPI dependencies are cached under
# ${BGPD_TEST_CACHE:-/var/cache/bgpd-test}/image-*/, so a second build only adds our layer.
image: venv
	bash scripts/install-debian-deps.sh
	$(BIN)/python scripts/build_image.py --out build/image

# Build (or reuse) the image and run it: two nodes under runc, the chroot fallback, capabilities.
image-test: venv
	bash scripts/install-debian-deps.sh
	$(BIN)/pytest tests/integration/test_image.py -q $(PYTEST_ARGS)

# birdcl first (bird2), so the demo's BIRD-socket step shows BIRD's own client, not raw protocol.
demo: venv
	bash scripts/install-debian-deps.sh --demo
	$(BIN)/python -m bgpd.demo

# The man pages and completion scripts in bgpd/share/, from the parsers (after an option or the
# version changed; tests/unit/test_manuals.py says when): committed, shipped in the wheel.
manuals: venv
	$(BIN)/python scripts/make_manuals.py

# The release files: dist/bgpd-<version>.tar.gz and the wheel built from it (docs/install.md).
dist: venv
	$(BIN)/python -m build --outdir dist .

# The installed wheel runs every command (part of `make test`; this runs it alone): the sdist
# and the wheel built from a copy of the tree, installed in a fresh venv as docs/install.md says.
wheel-check: venv deps
	$(BIN)/pytest tests/integration/test_wheel.py -q $(PYTEST_ARGS)

bench: venv deps
	$(BIN)/python bench/codec_bench.py

fuzz: venv
	$(BIN)/python bench/fuzz_wire.py --seconds 120

# Coverage-guided (atheris) fuzzing of the speaker's input path and of the datastore ->
# model -> render path, on demand. FUZZ_SECONDS sets how long each runs.
FUZZ_SECONDS ?= 300
$(VENV)/.fuzz-stamp: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[test,fuzz]'
	touch $@

fuzz-speaker: $(VENV)/.fuzz-stamp
	$(BIN)/python bench/fuzz_speaker.py -max_total_time=$(FUZZ_SECONDS)

fuzz-confd: $(VENV)/.fuzz-stamp
	$(BIN)/python bench/fuzz_confd.py -max_total_time=$(FUZZ_SECONDS)

clean:
	rm -rf $(VENV) .deps .mypy_cache .ruff_cache .pytest_cache .hypothesis *.egg-info build dist

# -- Reflect benchmark (issue 4; bench/reflect_bench.py, results in docs/performance.md) --------
.PHONY: bench-deps bench-reflect

# The test peers, FRR among them: the reference reflector of the benchmark (daemons not started).
bench-deps:
	bash scripts/install-bench-deps.sh

# The whole grid with bgpd, BIRD 2, GoBGP and FRR as the reflector (as root), then the plots
# and the Markdown table for docs/performance.md. REFLECT_ARGS passes options, e.g.
# REFLECT_ARGS="--repeat 5" or REFLECT_ARGS="--points 50x200 --merge".
REFLECT_ARGS ?=
bench-reflect: venv bench-deps
	$(BIN)/python bench/reflect_bench.py $(REFLECT_ARGS)
	$(BIN)/python bench/plot_reflect.py --table

# -- A reflector for a big cluster (issue 18; bench/scale_bench.py, docs/performance.md) -------
.PHONY: bench-scale
SCALE_ARGS ?=
bench-scale: venv
	$(BIN)/python bench/scale_bench.py $(SCALE_ARGS)
	$(BIN)/python bench/plot_scale.py --table

# -- Calico-shaped ingest (issue 18; bench/calico_ingest_bench.py, docs/performance.md) --------
# A node with two route reflectors sending 5,000 nodes' blocks and borrowed /32s: bgpd and
# BIRD 2 as the node, until every route is in its kernel. CALICO_ARGS passes options, e.g.
# CALICO_ARGS="--repeat 1 --dut bgpd".
.PHONY: bench-calico
CALICO_ARGS ?=
bench-calico: venv bench-deps
	$(BIN)/python bench/calico_ingest_bench.py $(CALICO_ARGS)
	$(BIN)/python bench/plot_calico.py --table --plot
