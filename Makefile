# SeaChat. `make run` starts the server on the embedded SQLite; `make test`
# runs the whole suite (SQLite and PostgreSQL).

GO ?= go
# The race detector needs cgo; use it wherever a C compiler is available.
RACE := $(shell [ "$$($(GO) env CGO_ENABLED)" = 1 ] && command -v "$$($(GO) env CC)" >/dev/null 2>&1 && echo -race)

.PHONY: build run test generate check-generate vet

build:
	$(GO) build -o bin/seachat ./cmd/seachat

run: build
	./bin/seachat

test:
	$(GO) test $(RACE) -count=1 -timeout 20m ./...

vet:
	$(GO) vet ./...

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
