# SeaChat. `make run` starts the server on the embedded SQLite; `make test`
# runs the whole suite (SQLite and PostgreSQL).

GO ?= go
# The race detector needs cgo; use it wherever a C compiler is available.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null 2>&1 && echo -race)

.PHONY: build run test generate check-generate vet bench test-faults eval

build:
	$(GO) build -o bin/seachat ./cmd/seachat

run: build
	./bin/seachat

test:
	$(GO) test $(RACE) -count=1 -timeout 20m ./...

# go vet everywhere; staticcheck (pinned as a go.mod tool) on the code we
# write: ent's generated packages trip it, ent/schema is ours.
vet:
	$(GO) vet ./...
	$(GO) tool staticcheck $$($(GO) list ./... | grep -v -e '/ent$$' -e '/ent/') ./ent/schema/...

# Regenerates ent (and schema/ent.graphqls), then gqlgen. Order matters: see
# shared/STACK.md.
generate:
	cd ent && $(GO) generate .
	$(GO) mod tidy
	$(GO) tool gqlgen generate

# Fails when the committed generated code is stale.
check-generate: generate
	@if [ -n "$$(git status --porcelain -- ent schema graph gqlgen.yml go.mod go.sum)" ]; then \
		echo "generated code is stale: run 'make generate' and commit the result"; \
		git status --porcelain -- ent schema graph gqlgen.yml go.mod go.sum; \
		exit 1; \
	fi

# GraphiQL at / is served from the binary (server/graphiql): the pinned
# GraphiQL and React bundles are committed under server/graphiql/static/vendor.
# This refreshes them from the npm registry (needs npm and the network) and
# fails unless every file matches server/graphiql/assets.sha256. To move to
# another version, see the top of server/graphiql/assets.sh.
.PHONY: graphiql-assets
graphiql-assets:
	server/graphiql/assets.sh

# Benchmarks (bench/README.md): builds bin/seachat and the bare baseline,
# runs every scenario against real processes on SQLite and on a fresh
# PostgreSQL database, and writes bench/RESULTS.md and bench/results.json.
# Bounded: the load generator stops itself after 9 minutes.
bench: build
	@echo "retrieval and ingest (internal/knowledge Go benchmarks, each beside its baseline) -> bench/retrieval.txt"
	$(GO) test -run '^$$' -bench . -benchtime 200ms ./internal/knowledge/ | tee bench/retrieval.txt
	@echo "one webhook ack in process, beside a signature-only handler -> bench/ack.txt"
	$(GO) test -run '^$$' -bench BenchmarkAck -benchtime 2000x ./internal/inbox/ | tee bench/ack.txt
	$(GO) build -o bin/barehook ./bench/cmd/barehook
	$(GO) build -o bin/loadgen ./bench/cmd/loadgen
	timeout 600 ./bin/loadgen -seachat bin/seachat -barehook bin/barehook -out bench
	$(GO) build -o bin/fanout ./bench/cmd/fanout && timeout 300 ./bin/fanout -seachat bin/seachat -out bench/fanout.md

# Answer quality (bench/README.md, "make eval"): the labelled customer
# messages of bench/eval through the real bot on a temporary SQLite
# database, offline responder, beside a plain BM25 baseline. Prints the
# figures, writes bench/eval/RESULTS.md and the "Answer quality" section of
# bench/RESULTS.md. A few seconds once compiled.
eval:
	GEMINI_API_KEY= $(GO) run ./bench/cmd/eval

# Fault tests (bench/faults): kill -9 under load, Graph API outages, the
# database cut off; then a bounded fuzz run of every fuzz target.
FUZZTIME ?= 10s
test-faults: build
	$(GO) vet -tags faults ./bench/...
	SEACHAT_BIN=$(CURDIR)/bin/seachat $(GO) test -tags faults -count=1 -v -parallel 4 -timeout 10m ./bench/faults/
	$(GO) test -run '^$$' -fuzz '^FuzzParseWebhook$$' -fuzztime $(FUZZTIME) ./internal/messenger/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckSignature$$' -fuzztime $(FUZZTIME) ./internal/messenger/
	$(GO) test -run '^$$' -fuzz '^FuzzExtract$$' -fuzztime $(FUZZTIME) ./internal/knowledge/
	$(GO) test -run '^$$' -fuzz '^FuzzSplit$$' -fuzztime $(FUZZTIME) ./internal/conversation/

# The agent console in a real browser (README.md, "Agent console"), and
# GraphQL clients in node (console/e2e/clients.test.mjs: the graphql-http
# audit, Apollo Client 3 and 4, urql, graphql-ws): builds
# bin/seachat and bin/fakegraph, starts both on free loopback ports with a
# temporary SQLite database, and drives Debian's Chromium (/usr/bin/chromium,
# or $CHROMIUM) with playwright-core. Screenshots go to console/e2e/artifacts/.
.PHONY: test-console
test-console:
	cd console/e2e && npm ci --no-audit --no-fund && npm test
