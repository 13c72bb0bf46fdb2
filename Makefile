# stocksync — `make` alone prints this help.
SHELL := /bin/bash
GO    ?= go
BIN   := bin/stocksync
PKGS  := ./...
# The suites that run an engine: `make test` runs them once more on the
# first wave's goka engine, which stays until it is removed.
ENGINE_SUITES := ./integration/... ./instance/
# Stamped into the binary (internal/buildinfo): stocksync version, stocksync_build_info.
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS  := -X github.com/stocksync/stocksync/internal/buildinfo.Version=$(VERSION) \
            -X github.com/stocksync/stocksync/internal/buildinfo.Revision=$(REVISION)

.DEFAULT_GOAL := help

help: ## show the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z][a-z0-9-]*:.*## /{printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/stocksync, stamped with VERSION and REVISION (default: from git)
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/stocksync

run: build ## run stocksync dev: embedded Kafka, demo catalogue, API on 127.0.0.1:8080
	./$(BIN) dev

test: ## the whole suite: unit tests, and the integration suite on kfake and (when STOCKSYNC_TEST_BROKERS is set) on real Kafka; the engine suites on the goka engine too
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	STOCKSYNC_ENGINE=goka $(GO) test -race -count=1 -timeout 20m $(ENGINE_SUITES)

test-loaded: ## the engine suites beside a CPU hog (one busy process per core): no test may depend on timing it does not control
	scripts/cpuhog.sh $(GO) test -race -count=1 -timeout 40m $(ENGINE_SUITES)

test-short: ## unit tests only (skips the integration suite)
	$(GO) test -short -count=1 $(PKGS)

test-kafka: ## start a local Apache Kafka (scripts/kafka.sh) and run the whole suite against it and kfake
	scripts/kafka.sh up
	STOCKSYNC_TEST_BROKERS=127.0.0.1:$${KAFKA_PORT:-19092} $(GO) test -race -count=1 -timeout 20m $(PKGS)
	STOCKSYNC_TEST_BROKERS=127.0.0.1:$${KAFKA_PORT:-19092} STOCKSYNC_ENGINE=goka $(GO) test -race -count=1 -timeout 20m $(ENGINE_SUITES)

kafka-up: ## start the local Kafka broker on 127.0.0.1:19092 (fetches the jars on first use)
	scripts/kafka.sh up

kafka-down: ## stop the local Kafka broker
	scripts/kafka.sh down

kafka-reset: ## stop the local Kafka broker and wipe its data
	scripts/kafka.sh reset

lint: ## go vet and gofmt check
	$(GO) vet $(PKGS)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt: ## format the code
	gofmt -w $$(git ls-files '*.go')

bench: ## short benchmarks, then stocksync vs PostgreSQL vs Redis, short run (bench/README.md; installs postgresql, redis-server as root)
	$(GO) test -run=NONE -bench=. -benchtime=1x ./state/ ./stock/
	bench/run.sh short

console-shots: ## drive the ops console in headless Chromium under load and write its screenshots to docs/console (docs/console.md)
	STOCKSYNC_SCREENSHOT_DIR=$(CURDIR)/docs/console $(GO) test -count=1 -run TestConsoleInABrowser ./opsui/

bench-chain: ## a chain's simulated day, stocksync against batch sync every 1/5/15 min (issue 16; bench/README.md; ~9 min), on BROKERS (default 127.0.0.1:19092; kfake for an embedded one), STOCKSYNC_ENGINE=goka for the goka engine; report and plot in OUT (default bench/results/chain/)
	$(GO) run ./cmd/stocksync-bench chain --brokers $(or $(BROKERS),127.0.0.1:19092) --out $(or $(OUT),bench/results/chain)

fraud-eval: ## anti-fraud evaluation (docs/fraud.md): SIZE=small|full (default small, the CI stream), BROKERS=host:port for a real broker (default kfake); report and plot in bench/results/fraud/
	$(GO) run ./cmd/stocksync-fraud-eval --size $(or $(SIZE),small) $(if $(BROKERS),--brokers $(BROKERS)) --out bench/results/fraud

soak: ## 10 minutes of mixed load and a fault every 30 s on 3 instances and their own broker (127.0.0.1:19392), checked; report in docs/soak.md
	$(GO) run ./cmd/stocksync-soak -duration 10m

soak-ci: ## the soak for CI: 2 minutes; report in a temporary directory, not docs/
	@d=$$(mktemp -d); $(GO) run ./cmd/stocksync-soak -duration 2m -report $$d/soak.md -json $$d/soak.json -plot $$d/soak.png; rc=$$?; cat $$d/soak.md; exit $$rc

helm-lint: ## lint the Helm chart, check the alert rules (promtool) and the Grafana dashboard
	@# helm into .cache/bin if missing (go install with GOBIN), then lint --strict and template with default and production-like values
	GO=$(GO) deploy/check.sh helm

.PHONY: help build run test test-loaded test-short test-kafka kafka-up kafka-down kafka-reset lint fmt bench bench-chain fraud-eval soak soak-ci helm-lint
