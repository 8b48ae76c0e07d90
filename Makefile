# posthorn: build and test. `make test` is the command CI runs (.ci/run).
GO ?= go

.PHONY: build test check fuzz bench
build:
	$(GO) build -o posthorn ./cmd/posthorn

# Every test, with the race detector and shuffled order. test/cicheck shows
# the result as go test does and keeps the event stream in test.json, where
# .ci/run checks that no required test (.ci/required-tests) was skipped.
test:
	$(GO) run ./test/cicheck run -log test.json -- $(GO) test -race -shuffle=on -timeout 40m -json ./...

# Formatting, vet and staticcheck (pinned), as CI runs them.
check:
	test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

# Run each fuzz target for a while (FUZZTIME=1m by default).
FUZZTIME ?= 1m
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./internal/store ./internal/message ./internal/smtpserver ./internal/imapserver
