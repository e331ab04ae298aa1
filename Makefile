# asm — make targets. Every target does its own setup on a fresh machine.
SHELL := /bin/bash
.DEFAULT_GOAL := help
NPM ?= npm
export npm_config_audit := false
export npm_config_fund := false
export npm_config_update_notifier := false

STAMP := node_modules/.asm-setup-stamp

.PHONY: help setup build executor-bundle proto proto-check docs lint test demo bench certs transcripts clean

help:
	@echo "make demo        run a session end to end through the controller's gRPC API"
	@echo "make test        run the whole test suite (installs what it needs)"
	@echo "make bench       benchmarks; reports in .build/bench/"
	@echo "make certs       development PKI in certs/dev (CERTS_ARGS='--executor NAME --force ...')"
	@echo "make transcripts re-record test/fixtures/transcripts/{claude,codex,gemini} from the pinned CLIs (TRANSCRIPTS='claude codex/as-text ...' for some)"
	@echo "make build       type-check and compile every workspace, and build the executor bundle"
	@echo "make executor-bundle  executor-agent/dist/asm-executor.cjs: the executor in one file for plain node"
	@echo "make lint        buf lint + strict type-check of code and tests"
	@echo "make proto       regenerate shared/gen from proto/"
	@echo "make proto-check regenerate into a temporary place and fail on any difference"
	@echo "make docs        rewrite the README's reason-code table from shared/src/errors/reason-codes.ts"

# npm ci: exactly the lock file, which is never rewritten (it records every platform's optional
# packages, e.g. @bufbuild/buf-*). After changing a dependency, run `npm install` and commit the lock.
$(STAMP): package.json package-lock.json shared/package.json controller/package.json executor-agent/package.json client/package.json
	$(NPM) ci --no-audit --no-fund --loglevel=error
	@touch $(STAMP)

setup: $(STAMP)

build: setup executor-bundle
	npx tsc -b

# The executor agent as ONE file runnable with plain `node` where there is no node_modules.
executor-bundle: setup
	node executor-agent/build-bundle.mjs

proto: setup
	npx buf lint
	npx buf generate
	proto/build-descriptors.sh shared/gen/descriptors.binpb

proto-check: setup
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	npx buf lint; \
	npx buf generate -o "$$tmp"; \
	proto/build-descriptors.sh "$$tmp/shared/gen/descriptors.binpb"; \
	if ! diff -r "$$tmp/shared/gen" shared/gen; then \
	  echo "shared/gen is out of date: run 'make proto' and commit the result" >&2; exit 1; \
	fi; \
	echo "proto-check: buf lint clean, generated code up to date"

docs: setup
	npx tsx shared/scripts/write-reason-codes.ts README.md

lint: setup
	npx buf lint
	npx tsc -b
	@if grep -rn --include='*.ts' -E '\bconsole\.(log|error|warn|info|debug)\(' shared/src controller/src executor-agent/src; then \
	  echo "lint: no console.* in library code (use the injected pino logger)" >&2; exit 1; fi

test: build
	@mkdir -p .build; status=0; \
	test/run-isolated.sh npx vitest run --reporter=default --reporter=json --outputFile.json=.build/vitest-report.json || status=$$?; \
	node -e 'const r=JSON.parse(require("fs").readFileSync(".build/vitest-report.json","utf8")); console.log(`$${r.numPassedTests} passed, $${r.numFailedTests} failed`)' || true; \
	exit $$status

demo: build
	npx tsx test/demo/run-demo.ts

bench: build
	test/run-isolated.sh npx tsx test/bench/warm-start.ts
	test/run-isolated.sh npx tsx test/bench/lanes.ts
	test/run-isolated.sh npx tsx test/bench/streaming.ts
	test/run-isolated.sh npx tsx test/bench/store.ts
	test/run-isolated.sh node --expose-gc --import tsx test/bench/memory.ts

# Drives the pinned real CLIs offline against the mock model servers, inside the loopback-only namespace.
transcripts: setup
	test/run-isolated.sh npx tsx test/transcripts/record-transcripts.ts $(TRANSCRIPTS)

certs: build
	node controller/dist/cli/make-certs.js $(CERTS_ARGS)

clean:
	rm -rf node_modules */node_modules */dist .build *.tsbuildinfo */*.tsbuildinfo
