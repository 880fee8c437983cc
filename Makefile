# esauth's two commands are "make run" and "make test"; see README.md.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

BIN := $(CURDIR)/bin
STATICCHECK_VERSION := v0.8.2
STATICCHECK := $(BIN)/staticcheck

.PHONY: build run test deps test-cluster lint unit smoke es-start es-stop es-status bench bench-timing fuzz schemathesis clean

build:
	go build -o esauth .

# Starts the local Elasticsearch unless ELASTICSEARCH_URL points elsewhere
# (first checking for, or installing, curl, unzip, a JDK and Maven:
# scripts/deps.sh run), then the server on 127.0.0.1:8000 over plain HTTP.
#
# A fixed data key for make run alone (a laptop's TOTP secrets survive a
# restart); never for a real deployment, which sets its own.
DEV_DATA_KEYS := dev:ZGV2ZWxvcG1lbnQtb25seS1rZXktMzItYnl0ZXMhISE=
run:
	@if [ -z "$${ELASTICSEARCH_URL:-}" ]; then scripts/deps.sh run && scripts/elasticsearch.sh start; fi
	ESAUTH_COOKIE_SECURE=false ESAUTH_PUBLIC_URL=$${ESAUTH_PUBLIC_URL:-http://localhost:8000} ESAUTH_DATA_KEYS=$${ESAUTH_DATA_KEYS:-$(DEV_DATA_KEYS)} go run . serve

$(STATICCHECK):
	GOBIN=$(BIN) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l .); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	go vet ./...
	$(STATICCHECK) ./...
	cd scripts/bench && go vet ./... && $(STATICCHECK) ./...

# What make test needs beyond Go (python3, curl, Chromium, nginx; and unless
# ELASTICSEARCH_URL is set, unzip, a JDK and Maven), installed with apt-get
# when root or passwordless sudo allows, or else a stop within seconds that
# names the apt-get command. See scripts/deps.sh.
deps:
	@scripts/deps.sh test

# The whole check: deps first, then lint, the Go tests (race detector on)
# against a real Elasticsearch, for the pages a real headless Chromium, and
# for forward-auth a real nginx (all required: a test fails rather than
# skips without them), then the smoke test against the built binary. The
# local node is started if none answers, and stopped at the end if started
# here. lint is made from the recipe, after deps, so that a missing tool
# stops the run before anything else, even with -j.
test: deps
	@$(MAKE) --no-print-directory lint
	@started=0; \
	if [ -z "$${ELASTICSEARCH_URL:-}" ] && ! scripts/elasticsearch.sh status >/dev/null; then \
	  scripts/elasticsearch.sh start; started=1; \
	fi; \
	trap 'if [ $$started = 1 ]; then scripts/elasticsearch.sh stop; fi' EXIT; \
	ESAUTH_REQUIRE_ES=1 ESAUTH_REQUIRE_BROWSER=1 ESAUTH_REQUIRE_NGINX=1 go test -race -count=1 ./...; \
	scripts/smoke.sh

# The storage and API suites against a local three-node cluster
# (scripts/elasticsearch.sh cluster: HTTP 9211-9213, 512 MB heap a node,
# about 800 MB resident each), every test store spread over the three
# nodes; then, on its own and verbose (it prints its status counts),
# TestClusterKillingThePrimaryNodeUnderLoad (ESAUTH_CLUSTER=1), which kill -9s
# the node holding the users and sessions primaries under load and restarts
# it. The cluster is stopped and its data wiped at the end, whatever happened.
# First, like make run, scripts/deps.sh run (curl, unzip, a JDK, Maven).
CLUSTER_URLS := http://127.0.0.1:9211,http://127.0.0.1:9212,http://127.0.0.1:9213
CLUSTER_KILL_TEST := TestClusterKillingThePrimaryNodeUnderLoad
test-cluster:
	@scripts/deps.sh run
	@trap 'scripts/elasticsearch.sh cluster stop --wipe' EXIT; \
	scripts/elasticsearch.sh cluster start >/dev/null; \
	export ELASTICSEARCH_URL=$(CLUSTER_URLS) ESAUTH_REQUIRE_ES=1 ESAUTH_CLUSTER=1; \
	go test -race -count=1 -timeout 20m -skip '^$(CLUSTER_KILL_TEST)$$' ./lib/elastic/ ./v1/; \
	go test -race -count=1 -timeout 10m -v -run '^$(CLUSTER_KILL_TEST)$$' ./v1/

# Go tests only, against whatever Elasticsearch answers (skips storage
# tests when none does).
unit:
	go test -race -count=1 ./...

smoke:
	scripts/smoke.sh

# Fuzzes each target for FUZZTIME (default 30s). "make test" runs their seed
# corpora as ordinary tests.
FUZZTIME ?= 30s
FUZZ_TARGETS := FuzzDecodeBody:./v1 FuzzCookieDecode:./lib/session FuzzNormalizeEmail:./lib/user FuzzLoadAnswer:./lib/elastic
fuzz:
	@for t in $(FUZZ_TARGETS); do \
	  name=$${t%%:*}; pkg=$${t#*:}; \
	  echo "== $$name ($$pkg) for $(FUZZTIME)"; \
	  go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

# Benchmarks against the local Elasticsearch; each reports ratios against a
# baseline measured in the same run.
# The Go benchmarks, then the product's own load benchmark (scripts/bench, a
# module of its own): one table of req/s, p50, p99 and RSS against the floors
# measured in the same run. BENCH_FLAGS passes flags to it, e.g.
# BENCH_FLAGS="-duration 10s -scale 1000000".
BENCH_FLAGS ?=
bench:
	@if [ -z "$${ELASTICSEARCH_URL:-}" ]; then scripts/elasticsearch.sh start; fi
	ESAUTH_REQUIRE_ES=1 go test -run '^$$' -bench . -skip 'EnumerationTiming|RecoveryTiming' -benchtime 2s ./...
	cd scripts/bench && go run . $(BENCH_FLAGS)

# Wrong-password login and recovery request timing, real accounts vs
# unknown emails (220 each; the login with production argon2id): medians
# and the Mann-Whitney z (the recovery's fails at p < 0.01).
bench-timing:
	@if [ -z "$${ELASTICSEARCH_URL:-}" ]; then scripts/elasticsearch.sh start; fi
	ESAUTH_REQUIRE_ES=1 go test -run '^$$' -bench 'EnumerationTiming|RecoveryTiming' -benchtime 220x ./v1

# Schemathesis (from PyPI, into a cached venv) against /v1/openapi.json of a
# live server on the local Elasticsearch; ST_EXAMPLES examples per operation.
ST_EXAMPLES ?= 50
schemathesis:
	@if [ -z "$${ELASTICSEARCH_URL:-}" ]; then scripts/elasticsearch.sh start; fi
	ST_EXAMPLES=$(ST_EXAMPLES) scripts/schemathesis.sh

es-start:
	scripts/elasticsearch.sh start
es-stop:
	scripts/elasticsearch.sh stop
es-status:
	scripts/elasticsearch.sh status

clean:
	rm -rf esauth $(BIN)
