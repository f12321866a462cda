# Shortcuts for the operator; every target calls a script or module that does the work
# (docs/operations.md, "Make targets"). `make` alone prints this list.
#   make up [STACK=staging]      make preview STACK=staging      make status STACK=dev
#   make destroy STACK=dev [PURGE=1] [ARGS=--exclude-protected]
#   make test [ARGS='-k operations']   make test-all (CI's layers too, as root)
#   make render [STACK=dev]      make lab-up / lab-status / lab-down
#   make tools (actionlint, Pulumi schema)   make toolchain (Pulumi CLI from Go modules)
# STACK unset: `up` and `preview` take the README's path (dev where a libvirt host
# answers, else the sandbox), the other targets use dev.
STACK ?=
PURGE ?= 0
ARGS ?=
PYTHON ?= venv/bin/python
OUT ?= .run/render/$(or $(STACK),dev)

.DEFAULT_GOAL := help
.PHONY: help up preview destroy status render test test-all tools toolchain lab-up lab-down lab-status

help: ## this list
	@echo "make TARGET [STACK=name] (docs/operations.md):"
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## /  \1\t/' | expand -t 16

up: ## pulumi up (./scripts/bootstrap.sh); no STACK: dev, or the sandbox when no libvirt answers
	$(if $(STACK),STACK=$(STACK) )./scripts/bootstrap.sh

preview: ## pulumi preview (./scripts/bootstrap.sh --preview)
	$(if $(STACK),STACK=$(STACK) )./scripts/bootstrap.sh --preview

destroy: ## pulumi destroy (./scripts/destroy.sh); PURGE=1 also forgets a lab stack
	STACK=$(or $(STACK),dev) PURGE=$(PURGE) ./scripts/destroy.sh $(ARGS)

status: ## live VRRP state, VIP holders, units per node of a deployed stack
	$(PYTHON) -m nginx_ha status --stack $(or $(STACK),dev) $(if $(filter sandbox,$(STACK)),--netns nginx-ha-sandbox) $(ARGS)

render: ## every file each node gets, offline, into OUT (default .run/render/STACK)
	$(PYTHON) -m nginx_ha render --stack $(or $(STACK),dev) --out $(OUT)

test: ## the README's test command: the layers that leave the machine alone
	./scripts/test.sh $(ARGS)

test-all: ## every layer but e2e (installs packages, starts daemons: root)
	NGINX_HA_TESTS=all ./scripts/test.sh $(ARGS)

tools: ## actionlint and Pulumi's project schema, from Go modules
	./scripts/dev-tools.sh

toolchain: ## the Pulumi CLI and its plugins, from Go modules (about 7 min)
	./scripts/pulumi-toolchain.sh

lab-up: ## the stack's files with real daemons in network namespaces (root, seconds)
	$(PYTHON) -m lab --stack $(or $(STACK),dev) up

lab-status: ## the lab's live view
	$(PYTHON) -m lab --stack $(or $(STACK),dev) status

lab-down: ## remove the lab
	$(PYTHON) -m lab --stack $(or $(STACK),dev) down
