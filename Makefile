# Shortcuts for the operator; every target calls a script or module that does the work.
#   make up STACK=staging        make preview STACK=staging
#   make destroy STACK=dev [PURGE=1] [ARGS=--exclude-protected]
#   make test [ARGS='-k operations']    make lab-up / lab-down / lab-status
#   make tools                    (actionlint, Pulumi schema)   make toolchain (Pulumi CLI)
# See docs/operations.md.
STACK ?= dev
PURGE ?= 0
ARGS ?=
PYTHON ?= venv/bin/python

.PHONY: up preview destroy test tools toolchain lab-up lab-down lab-status

up:
	STACK=$(STACK) ./scripts/bootstrap.sh

preview:
	STACK=$(STACK) ./scripts/bootstrap.sh --preview

destroy:
	STACK=$(STACK) PURGE=$(PURGE) ./scripts/destroy.sh $(ARGS)

test:
	./scripts/test.sh $(ARGS)

tools:
	./scripts/dev-tools.sh

toolchain:
	./scripts/pulumi-toolchain.sh

lab-up:
	$(PYTHON) -m lab up

lab-down:
	$(PYTHON) -m lab down

lab-status:
	$(PYTHON) -m lab status
