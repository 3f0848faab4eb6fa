# DistriData build, test and benchmark entry points.
# Strict shell: any failing step in a recipe fails the target.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build
MAKEFLAGS += --no-builtin-rules

GO        ?= go
BIN       ?= bin/distridata
FUZZTIME  ?= 30s
SMOKETIME ?= 3s
BENCHTIME ?= 1s
COUNT     ?= 1
STATICCHECK_VERSION := v0.8.2
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    := $(shell git rev-parse --short HEAD 2>/dev/null)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)

.PHONY: build run test fuzz-smoke fuzz fuzz-keep check staticcheck bench bench-anchors reliability clean

build: ## build the distridata binary into bin/
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/distridata

run: build ## start the embedded local cluster (daemon + 3 storage nodes, data in ./data)
	./$(BIN) local

test: ## vet, race-enabled unit tests, and a short fuzz smoke of every fuzz target
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) --no-print-directory fuzz-smoke

fuzz-smoke:
	FUZZTIME=$(SMOKETIME) ./scripts/fuzz-all.sh

fuzz: ## run every Fuzz* target for FUZZTIME each
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz-all.sh

fuzz-keep: ## copy the fuzzer's interesting inputs into testdata/fuzz (commit them after review)
	./scripts/fuzz-keep.sh

check: staticcheck ## gofmt diff, vet, staticcheck, race tests
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GOBIN_DIR)/staticcheck ./...
	$(GO) test -race -count=1 ./...

staticcheck:
	@if ! $(GOBIN_DIR)/staticcheck -version 2>/dev/null | grep -q "$(STATICCHECK_VERSION)"; then \
		$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); fi

bench: ## Go micro-benchmarks of every package
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) ./...

reliability: ## system-test battery: real processes, injected faults, hostile clients (< 25 min)
	RELIABILITY=full $(GO) test -count=1 -timeout 30m ./reliability/

bench-anchors: build ## side-by-side load runs vs redis-server and twemproxy (installs them with apt)
	./bench/anchors.sh

clean:
	rm -rf bin
