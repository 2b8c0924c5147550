# Two commands for a newcomer: `make demo` and `make test`. Everything they need is installed here.
PY ?= python3
VENV := .venv
BIN := $(abspath $(VENV))/bin
STAMP := $(VENV)/.installed
LINT_PATHS := lib tests bench plugins/kubectl-gitops plugins/kubectl-gitops-diff \
	plugins/kubectl-gitops-sync plugins/kubectl-gitops-status plugins/git-promote scripts/local-cluster

.PHONY: venv controlplane helm lint test demo demo-down cluster-up cluster-down bench bench-helm bench-clusters clean

$(STAMP): setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@

venv: $(STAMP)

# etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl and kwok from the Go module
# proxy, cached per user and keyed by tests/controlplane/versions.env; and an older kube-apiserver
# for the tests that run against it.
controlplane:
	scripts/build-controlplane build
	scripts/build-controlplane build-old

# helm (Helm 3) from the Go module proxy for the Helm tests, cached per user and keyed by its version.
helm:
	scripts/build-helm build >/dev/null

lint: venv
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy
	$(BIN)/lint-imports

test: venv controlplane helm lint
	PATH="$(BIN):$$PATH" $(BIN)/pytest

demo: venv controlplane helm
	PATH="$(BIN):$$PATH" scripts/demo

cluster-up: controlplane
	scripts/local-cluster up && scripts/local-cluster env

cluster-down demo-down:
	scripts/local-cluster down

# diff and sync, N=1000; e.g. `make bench BENCH_ARGS="--only sync --runs 5"`
bench: venv controlplane helm
	PATH="$(BIN):$$PATH" $(BIN)/python bench/run.py $(BENCH_ARGS)

# App of Apps: a no-change diff of 10,000 objects in 100 Applications vs kubectl diff --server-side,
# requests from the API server's audit log; e.g. `make bench-appofapps BENCH_ARGS="--apps 20 --runs 1"`
.PHONY: bench-appofapps
bench-appofapps: venv controlplane
	PATH="$(BIN):$$PATH" $(BIN)/python bench/appofapps.py $(BENCH_ARGS)

# 100 Helm Applications over one chart: the first diff (helm renders each) vs the second (render cache)
bench-helm: venv controlplane helm
	PATH="$(BIN):$$PATH" $(BIN)/python bench/helm.py $(BENCH_ARGS)

# diff of one repo split over two clusters vs each cluster alone
bench-clusters: venv controlplane
	PATH="$(BIN):$$PATH" $(BIN)/python bench/clusters.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build lib/*.egg-info

# The krew release: dist/kubectl-gitops_<version>_<os>_<arch>.tar.gz (launcher + wheels for CPython 3.11-3.14)
# and the manifest, written to dist/gitops.yaml and krew/gitops.yaml with each archive's sha256.
.PHONY: dist
dist: venv
	$(BIN)/python scripts/build-krew-archive --out dist --update-manifest
