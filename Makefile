# ScentMatch Pipeline. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

GO      ?= go
ENV     ?= default
STACK   ?= scentmatch-pipeline-$(ENV)
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

# Lambda binaries: static, small, named bootstrap (provided.al2023); arm64 as
# deployed (make rehearse also builds LAMBDA_ARCH=amd64 to run them here).
LAMBDA_ARCH  ?= arm64
LAMBDA_BUILD := CGO_ENABLED=0 GOOS=linux GOARCH=$(LAMBDA_ARCH) $(GO) build -tags lambda.norpc -trimpath -ldflags "-s -w"
FUNCTIONS    := $(notdir $(wildcard functions/*))

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_%\/.-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: check-go
check-go:
	@command -v $(GO) >/dev/null 2>&1 || { echo "error: Go is not installed: install Go 1.26 or newer and run make again" >&2; exit 1; }

bin/scentmatch: check-go FORCE
	@mkdir -p bin
	$(GO) build -ldflags "-X github.com/scentmatch/pipeline/internal/cli.Version=$(VERSION)" -o bin/scentmatch ./cmd/scentmatch

.PHONY: FORCE
FORCE:

.PHONY: run
run: bin/scentmatch ## Run the main job: one full cycle (detect, import, maintain, metrics, notify) on the embedded database against the sandbox upstream
	@if [ -z "$$DATABASE_URL$$DATABASE_SECRET_ARN" ]; then scripts/ensure-postgres.sh; fi
	bin/scentmatch db migrate
	bin/scentmatch config validate
	bin/scentmatch cycle --log-level warn
	bin/scentmatch status
	@echo "The local database keeps running; stop it with: bin/scentmatch db stop" >&2

.PHONY: test
test: check-go ## gofmt check, go vet and go test -race against a real PostgreSQL (started by the harness)
	scripts/test.sh

.PHONY: rehearse
rehearse: check-go ## Rehearse a deploy without deploying: functions built as sam build does, under the Lambda emulator, AWS from moto, the database through PgBouncer (docs/rehearsal.md)
	scripts/rehearse.sh

.PHONY: lint
lint: check-go ## gofmt check and go vet only
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

.PHONY: validate
validate: ## template.yaml through AWS's SAM translator and cfn-lint (no errors or warnings; part of make test)
	scripts/check-template.sh

.PHONY: bench
bench: check-go ## Benchmarks (about 20 minutes): validation, import vs psql \copy, cold start, embeddings, a 10k-candidate cycle on a 1M catalog, matching against 1M (docs/BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem -count 3 -cpu 1 ./internal/catalog/
	scripts/bench-import.sh
	$(GO) test -run '^$$' -bench ColdStart -benchtime 20x ./internal/coldstart/
	$(GO) test -run '^$$' -bench . -benchtime 10x -v -timeout 30m ./internal/embedding/
	scripts/bench-cycle.sh
	$(GO) test -run '^$$' -bench MatchOneRecord -benchtime 2000x -timeout 30m ./internal/importer/

.PHONY: fuzz
fuzz: check-go ## Run every go test -fuzz target for FUZZTIME each (default 20s); crashes land in testdata/fuzz/
	scripts/fuzz.sh

.PHONY: build
build: check-go bin/scentmatch ## Build the CLI and every Lambda function (bin/lambda/<name>/bootstrap, linux/arm64)
	@for fn in $(FUNCTIONS); do \
		echo "building $$fn"; \
		$(LAMBDA_BUILD) -o bin/lambda/$$fn/bootstrap ./functions/$$fn || exit 1; \
	done

# SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
# SAM (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set;
# every function in template.yaml has one (a test checks).
SAM_FUNCTIONS := Migrate Detect Import Dataset Maintain Metrics Notify Status Backup
.PHONY: $(addprefix build-,$(addsuffix Function,$(SAM_FUNCTIONS)))
build-MigrateFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/migrate
build-DetectFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/detect
build-ImportFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/import
build-DatasetFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/dataset
build-MaintainFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/maintain
build-MetricsFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/metrics
build-NotifyFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/notify
build-StatusFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/status
build-BackupFunction:
	$(LAMBDA_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/backup

# make invoke-detect [EVENT=events/detect.json]: sam local invoke when SAM and
# Docker are there (template environment, events/env.json overrides, the
# local database's URL as the DatabaseUrl parameter), else the in-process
# invoker on the local database. The default event is events/<fn>.json, or
# the one named here for a function with several (a test checks all nine).
INVOKE_EVENT_dataset := events/dataset-split.json
INVOKE_EVENT_import  := events/import-cycle.json
INVOKE_EVENT_notify  := events/notify-success.json
.PHONY: invoke-%
invoke-%: bin/scentmatch ## Invoke a function with a sample event (make invoke-detect EVENT=events/detect.json)
	@ev="$${EVENT:-$(or $(INVOKE_EVENT_$*),events/$*.json)}"; \
	test -f "$$ev" || { echo "error: no event file $$ev (samples are in events/; give one with EVENT=...)" >&2; exit 2; }; \
	if command -v sam >/dev/null 2>&1 && command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		id="$$(echo $* | sed 's/^./\U&/')Function"; \
		sam build "$$id" && sam local invoke "$$id" -e "$$ev" --parameter-overrides "DatabaseUrl=$$(bin/scentmatch db url) DatabaseMigrationUrl=$$(bin/scentmatch db url)"; \
	else \
		bin/scentmatch invoke $* -e "$$ev"; \
	fi

.PHONY: deploy
deploy: ## Deploy with SAM (ENV=default|staging|prod), then run the migrate function once
	@command -v sam >/dev/null 2>&1 || { echo "error: the AWS SAM CLI is not installed (pip install aws-sam-cli, or see the AWS SAM docs)" >&2; exit 1; }
	sam build
	sam deploy --config-env $(ENV)
	sam remote invoke MigrateFunction --stack-name $(STACK) --event-file events/migrate.json

.PHONY: db/stop
db/stop: bin/scentmatch ## Stop the embedded local database
	bin/scentmatch db stop

.PHONY: clean
clean: ## Remove build output (not the local database: see db/stop)
	rm -rf bin .aws-sam
