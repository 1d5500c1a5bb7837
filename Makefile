# rwhisk: everyday commands. `make quick-start` runs the platform and a function;
# `make test` runs the whole test suite (what CI runs).

SHELL := /bin/bash
DATA_DIR ?= $(HOME)/.rwhisk
WSK := target/release/wsk
export PATH := $(CURDIR)/target/release:$(PATH)

.PHONY: all build images sdk-images quick-start start hello-world destroy test test-unit check fmt bench fuzz soak clean

all: build

## build: release binaries whiskd and wsk
build:
	cargo build --release -p whiskd -p whisk-cli

## images: the skeleton base image (whisk/dockerskeleton, openwhisk/dockerskeleton) and the
## native runtime images (whisk/action-nodejs:18, whisk/action-python:3.11); idempotent
images:
	images/build-skeleton.sh
	images/build-runtimes.sh

## sdk-images: the seed's C and Go examples as action images (whisk/example-c, whisk/example-go)
sdk-images: images
	sdk/docker-skeleton/buildAndPush.sh whisk/example-c
	sdk/docker-go/build.sh whisk/example-go

## quick-start: build, start dockerd if needed, start whiskd, register and invoke hello
quick-start:
	scripts/setup-host.sh
	$(MAKE) --no-print-directory build images
	DATA_DIR=$(DATA_DIR) scripts/quick-start.sh

## start: start whiskd standalone in the background (if it is not running)
start:
	DATA_DIR=$(DATA_DIR) scripts/whiskd-ctl.sh start

## hello-world: invoke the hello action again
hello-world:
	@echo "invoking the hello action ..."
	$(WSK) action invoke hello --param name World --result

## destroy: stop whiskd and remove its containers
destroy:
	DATA_DIR=$(DATA_DIR) scripts/whiskd-ctl.sh stop

## test: formatting and lints, then install and start what tests need, build images, and
## run unit, integration and e2e tests, then a short fuzz run of the proxy's bodies and a
## short soak (RSS and data directory stay bounded under mixed load)
test: check
	scripts/setup-host.sh
	$(MAKE) --no-print-directory images sdk-images
	images/test-images.sh
	images/test-runtimes.sh
	scripts/setup-js-client.sh
	cargo build --workspace --all-targets
	cargo test --workspace --no-fail-fast
	FUZZ_SECONDS=30 scripts/fuzz.sh
	SOAK_SECONDS=30 scripts/soak.sh

## fuzz: the cargo-fuzz targets in fuzz/ (FUZZ_SECONDS each, default 30)
fuzz:
	scripts/fuzz.sh

## soak: whiskd under mixed load for SOAK_SECONDS (default 300), RSS and disk sampled
soak:
	scripts/soak.sh

## check: formatting and lints
check:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

fmt:
	cargo fmt --all

## bench: every loadgen scenario (warm, many, cold, resume, fanout, runtimes) beside its floors (see BENCHMARKS.md)
bench: build images
	scripts/bench.sh

clean:
	cargo clean
