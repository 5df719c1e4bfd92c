# sunor_exporter. `make help` lists the targets.
GO        ?= go
VERSION   ?= $(shell cat VERSION)
REVISION  ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
BRANCH    ?= $(shell git rev-parse --abbrev-ref HEAD 2>/dev/null || echo unknown)
PKG_VER   := github.com/prometheus/common/version
LDFLAGS   := -s -w -X $(PKG_VER).Version=$(VERSION) -X $(PKG_VER).Revision=$(REVISION) \
             -X $(PKG_VER).Branch=$(BRANCH) -X $(PKG_VER).BuildUser=$(shell whoami)@$(shell hostname) \
             -X $(PKG_VER).BuildDate=$(shell date -u +%Y%m%d-%H:%M:%S)
STATICCHECK_VERSION ?= v0.8.2

.PHONY: help build test lint fuzz bench budget-load soak load demo e2e deploy-check ci prometheusrule

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## static release binary ./sunor_exporter, version stamped
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o sunor_exporter .

# Outside CI, where a missing program skips a test instead of failing it,
# tools/testsummary shows plain go test's output and then each skipped test
# and why, and exits with go test's code (built first: go run would say 1).
test: ## all tests, with the race detector (what CI runs); outside CI it ends with each skipped test and why
ifdef CI
	$(GO) test -race -count=1 ./...
	cd deploy/validate && $(GO) test -count=1 ./...
else
	@bin=$$(mktemp -d) && $(GO) build -o $$bin/testsummary ./tools/testsummary && \
	{ $$bin/testsummary -- $(GO) test -race -count=1 ./... -- $(GO) -C deploy/validate test -count=1 ./...; \
	  rc=$$?; rm -rf $$bin; exit $$rc; }
endif

lint: ## gofmt, go vet, staticcheck
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...
	cd deploy/validate && $(GO) vet ./... && $(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

fuzz: ## fuzz the API response decoder and the accounts file (FUZZTIME=30s each)
	$(GO) test -run '^$$' -fuzz '^FuzzDecode$$' -fuzztime $(or $(FUZZTIME),30s) ./internal/sunor
	$(GO) test -run '^$$' -fuzz '^FuzzAccounts$$' -fuzztime $(or $(FUZZTIME),30s) ./internal/config

bench: ## benchmarks with allocations
	$(GO) test -run '^$$' -bench . -benchmem ./...

soak: ## the real exporter, 220 accounts, random API failures, key rotations, adds, removes, reloads: memory, fds, calls per key, key-free log (SOAK=10m)
	$(GO) run ./tools/soak -duration $(or $(SOAK),10m)

budget-load: ## the real binary: 100 back-to-back scrapes (healthy, failing API) within the ceiling; then 90 s of fast scrapes: per-key calls in any 60 s, balance at most 60 s old with usage on
	$(GO) run ./tools/budgetload

load: ## load script: latency side by side, peak RSS, accounts scaling (DURATION, RUNS, ACCOUNTS=1,10,100,1000, LOADFLAGS)
	$(GO) run ./tools/loadtest -duration $(or $(DURATION),5s) -runs $(or $(RUNS),1) $(if $(ACCOUNTS),-accounts $(ACCOUNTS)) $(LOADFLAGS)

demo: ## fake Sunor API + exporter on :10151, no key needed
	./scripts/demo.sh

e2e: ## Prometheus + Alertmanager end-to-end test (needs Debian's prometheus, prometheus-alertmanager)
	./deploy/e2e.sh

.PHONY: chaos
chaos: ## chaos test: Debian's prometheus scrapes every 250 ms while the fake API fails at random (CHAOS_SEED=n replays)
	$(GO) test -tags e2e -count=1 -v -run '^TestChaos$$' -timeout 3m ./deploy/

deploy-check: ## promtool/amtool checks of deploy/ and its consistency tests (part of make test)
	$(GO) test -count=1 ./deploy/

ci: ## what .ci/run runs after installing packages
	./.ci/run

# The rules, the dashboard, their Helm chart copies and the PrometheusRule
# are rendered from the monitoring mixin, mixin/ (go-jsonnet, pinned in
# go.mod); a test in deploy/ fails when one differs from what it renders.
.PHONY: mixin
mixin: ## render mixin/ into the rules, the dashboard, the Helm chart's copies and the PrometheusRule
	$(GO) run ./tools/mixin

prometheusrule: mixin ## the same as mixin (deploy/kubernetes/prometheusrule.yaml is one of its files)

# The workflows in .github/workflows, linted with actionlint (pinned, through
# the Go module proxy; CI installs it and passes ACTIONLINT=actionlint). It
# runs shellcheck on the workflows' scripts when shellcheck is installed.
ACTIONLINT_VERSION ?= v1.7.12
ACTIONLINT ?= $(GO) run github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

.PHONY: actionlint
actionlint: ## lint .github/workflows with actionlint
	$(ACTIONLINT)

# Release archives: GoReleaser, pinned. CI installs it and passes GORELEASER=goreleaser.
GORELEASER_VERSION ?= v2.15.1
GORELEASER ?= $(GO) run github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)
# A snapshot (no tag needed). A tagged release is made by the release
# workflow (.github/workflows/release.yml) on a v<VERSION> tag.
GORELEASER_FLAGS ?= --snapshot

.PHONY: release release-check image-test helm-sync

release: ## archives for 6 platforms + sha256sums.txt in dist/ (GoReleaser, version from VERSION)
	VERSION=$(VERSION) $(GORELEASER) release --clean $(GORELEASER_FLAGS)

release-check: ## check dist/: archive contents, checksums, --version, each binary's target
	./scripts/release-check.sh

image-test: ## build the image with buildah, run it, scrape it against the fake API (root)
	./scripts/image-test.sh

helm-sync: mixin ## the same as mixin (the Helm chart's copies are among its files)
