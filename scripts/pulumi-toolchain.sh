#!/usr/bin/env bash
# Air-gapped install of the Pulumi toolchain (issue 9, point 1): builds the
# Pulumi CLI, the Python language host and the libvirt and command providers
# from Go module sources, for a machine that reaches a Go module proxy but not
# Pulumi's own download sites. See docs/toolchain.md.
#
# Output (gitignored): .toolchain/bin/{pulumi, pulumi-language-python,
# pulumi-resource-libvirt, pulumi-resource-command}, .toolchain/libexec/ (the
# language host's real binary and its exec shim), .toolchain/stamps/ (what was
# built, for idempotency), .toolchain/logs/ (go output), .toolchain/work/ (the
# throwaway wrapper modules), .toolchain/src/ (writable source copies).
# Go caches: the default ones (go env GOMODCACHE, go env GOCACHE), shared with
# any other Go work on the machine; export GOMODCACHE/GOCACHE to move them.
#
# Usage: scripts/pulumi-toolchain.sh [options]
#   --only NAME       build only NAME (cli, python, libvirt, command or the
#                     binary's name); may be repeated or comma-separated
#   --src NAME=DIR    build NAME from a local checkout of its upstream repository
#                     at the pinned tag instead of from the module proxy (for a
#                     module the proxy does not serve); may be repeated
#   --force           rebuild even if the stamp says the binary is up to date
#   --check           print what is installed (versions, sources) and exit
#   -h, --help        this text
# Environment: GOPROXY, GOMODCACHE, GOCACHE, GOTOOLCHAIN as usual for go;
#   PULUMI_TOOLCHAIN_DIR (default: <project>/.toolchain);
#   PULUMI_TOOLCHAIN_PYHOST_REV: commit of pulumi/pulumi tag v<SDK> to take the
#   Python language host module at (see docs/toolchain.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TC_DIR="${PULUMI_TOOLCHAIN_DIR:-$ROOT/.toolchain}"
BIN_DIR="$TC_DIR/bin"
LIBEXEC_DIR="$TC_DIR/libexec"
STAMP_DIR="$TC_DIR/stamps"
LOG_DIR="$TC_DIR/logs"
WORK_DIR="$TC_DIR/work"
SRC_COPY_DIR="$TC_DIR/src"

# Bump when the build recipe changes, so that stamps written by an older
# recipe no longer count and everything is rebuilt once.
RECIPE_REV=1

# ---------------------------------------------------------------------------
# Pins. They must match requirements.txt (checked below): the providers'
# plugin versions must equal the Python SDKs' versions, which ask the engine
# for exactly those plugin versions.
SDK_VERSION=3.272.0       # pulumi==
LIBVIRT_VERSION=0.5.4     # pulumi-libvirt==
COMMAND_VERSION=1.2.1     # pulumi-command==

# cli: github.com/pulumi/pulumi/pkg/v3 ./cmd/pulumi. v$SDK_VERSION first; if
# the proxy refuses it, the lowest newer release it lists (a newer CLI runs an
# older Python SDK fine). The proxy used on 2026-11-25 refused v3.272.0
# (403) and listed v3.274.1 as the next release (no v3.273.x, no v3.274.0).
CLI_MODULE=github.com/pulumi/pulumi/pkg/v3
CLI_PKG=github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

# python: since pulumi v3.81.0 the host is its own module, never tagged, so a
# proxy can only serve it at a pseudo-version of the release commit
# (PULUMI_TOOLCHAIN_PYHOST_REV) or it is built from a checkout (--src
# python=DIR). Otherwise: the newest sdk/v3 release that the proxy serves and
# that still carried the host inside sdk/v3 (v3.68.0; v3.69..v3.80 were not
# served on 2026-11-25). That host predates the runtime options that newer CLIs
# send over gRPC, so bin/pulumi-language-python is then a small wrapper that
# passes Pulumi.yaml's runtime.options.virtualenv as the -virtualenv flag that
# host reads. Its exec shim (a Python script) always comes from sdk/v3 at
# v$SDK_VERSION, the SDK's own release.
PYHOST_MODULE=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
PYHOST_SUBDIR=sdk/python/cmd/pulumi-language-python
PYHOST_LEGACY_VERSION=v3.68.0
PYHOST_LEGACY_PKG=github.com/pulumi/pulumi/sdk/v3/python/cmd/pulumi-language-python
PYHOST_REV="${PULUMI_TOOLCHAIN_PYHOST_REV:-}"

# libvirt and command: the providers live in the provider/ subfolder of their
# repositories, a module that upstream never tags (its tags are v0.5.4,
# sdk/v0.5.4, ...), so it is fetched at the commit of the release tag, which a
# proxy serves as a pseudo-version. terraform-provider-libvirt 0.8.x talks to
# libvirtd through github.com/digitalocean/go-libvirt (pure Go): no cgo, no
# libvirt-dev; every binary here is built with CGO_ENABLED=0.
LIBVIRT_MODULE=github.com/pulumi/pulumi-libvirt/provider
LIBVIRT_COMMIT=551204e65927f56394ce673106d009d7e93dd26a   # tag v0.5.4
LIBVIRT_PKG=github.com/pulumi/pulumi-libvirt/provider/cmd/pulumi-resource-libvirt
LIBVIRT_VAR=github.com/pulumi/pulumi-libvirt/provider/pkg/version.Version
COMMAND_MODULE=github.com/pulumi/pulumi-command/provider
COMMAND_COMMIT=7f3eb6f3b77cd0fa3895ba437a695dd393f7dd25   # tag v1.2.1
COMMAND_PKG=github.com/pulumi/pulumi-command/provider/cmd/pulumi-resource-command
COMMAND_VAR=github.com/pulumi/pulumi-command/provider/pkg/version.Version

ALL_COMPONENTS=(cli python libvirt command)

# ---------------------------------------------------------------------------
usage() {
  sed -n '/^# Usage:/,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
}

die() {
  echo "pulumi-toolchain: $*" >&2
  exit 1
}

note() {
  echo "pulumi-toolchain: $*" >&2
}

bin_name() {
  case "$1" in
    cli) echo pulumi ;;
    python) echo pulumi-language-python ;;
    libvirt) echo pulumi-resource-libvirt ;;
    command) echo pulumi-resource-command ;;
  esac
}

canonical_name() {
  local c
  for c in "${ALL_COMPONENTS[@]}"; do
    if [[ "$1" == "$c" || "$1" == "$(bin_name "$c")" ]]; then
      echo "$c"
      return 0
    fi
  done
  return 1
}

declare -A SRC=()
ONLY=()
FORCE=0
CHECK=0
while (($#)); do
  case "$1" in
    --only)
      (($# >= 2)) || die "--only needs a NAME"
      IFS=, read -r -a names <<<"$2"
      for n in "${names[@]}"; do
        c=$(canonical_name "$n") || die "unknown name '$n' (cli, python, libvirt, command)"
        ONLY+=("$c")
      done
      shift 2
      ;;
    --src)
      (($# >= 2)) || die "--src needs NAME=DIR"
      [[ "$2" == *=* ]] || die "--src needs NAME=DIR, got '$2'"
      c=$(canonical_name "${2%%=*}") || die "unknown name '${2%%=*}'"
      [[ "$c" != cli ]] || die "--src is not supported for the CLI (the proxy serves it)"
      [[ -d "${2#*=}" ]] || die "--src $c: '${2#*=}' is not a directory"
      SRC[$c]="$(cd "${2#*=}" && pwd)"
      shift 2
      ;;
    --force) FORCE=1; shift ;;
    --check) CHECK=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
((${#ONLY[@]})) || ONLY=("${ALL_COMPONENTS[@]}")

command -v go >/dev/null || die "go is not on PATH (Go >= 1.23 is needed; newer toolchains come from the proxy via GOTOOLCHAIN)"

# The pins above are tied to requirements.txt (the commits to the versions).
req_pin() {
  sed -n "s/^$1==\([^[:space:];#]*\).*/\1/p" "$ROOT/requirements.txt" | head -n 1
}
if [[ -f "$ROOT/requirements.txt" ]]; then
  for pair in "pulumi:$SDK_VERSION" "pulumi-libvirt:$LIBVIRT_VERSION" "pulumi-command:$COMMAND_VERSION"; do
    got=$(req_pin "${pair%%:*}")
    [[ -z "$got" || "$got" == "${pair#*:}" ]] ||
      die "requirements.txt pins ${pair%%:*}==$got but this script builds ${pair#*:}: update the pins (and commits) in $0"
  done
fi

export GOWORK=off GOFLAGS="${GOFLAGS:-}" CGO_ENABLED=0
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

# ---------------------------------------------------------------------------
# Helpers around the go command.

# json_field NAME < go-json: the string value of the first "NAME" field.
json_field() {
  sed -n "s/^[[:space:]]*\"$1\": \"\(.*\)\",\{0,1\}\$/\1/p" | head -n 1 | sed -e 's/\\n/ /g' -e 's/\\t/ /g' -e 's/\\"/"/g'
}

# mod_download MODULE@QUERY: sets DL_VERSION and DL_DIR, or DL_ERROR (the go error).
mod_download() {
  local out
  DL_VERSION="" DL_DIR="" DL_ERROR=""
  if out=$(cd "$SCRATCH" && go mod download -json "$1" 2>&1); then
    DL_VERSION=$(json_field Version <<<"$out")
    DL_DIR=$(json_field Dir <<<"$out")
    [[ -n "$DL_DIR" ]] && return 0
  fi
  DL_ERROR=$(json_field Error <<<"$out")
  [[ -n "$DL_ERROR" ]] || DL_ERROR=$(tr '\n' ' ' <<<"$out")
  return 1
}

# upstream_replaces GOMOD: one "OLD[ VERSION] => NEW[ VERSION]" per line.
upstream_replaces() {
  awk '
    { sub(/\/\/.*/, "") }
    /^replace[ \t]*\(/ { block = 1; next }
    block && /^[ \t]*\)/ { block = 0; next }
    block && NF { print; next }
    /^replace[ \t]/ { sub(/^replace[ \t]+/, ""); print }
  ' "$1"
}

# copy_replaces GOMOD MODDIR SIBLING_VERSION: copies the replace directives of
# an upstream go.mod into the wrapper module (the current directory). A
# replacement by a local path (a sibling module of the same repository) is kept
# as a path when the upstream module is a local checkout (MODDIR is set), and
# otherwise becomes a requirement of that module at SIBLING_VERSION.
copy_replaces() {
  local gomod=$1 moddir=$2 sibling=$3 line old new
  while IFS= read -r line; do
    old=$(awk '{ if ($2 == "=>") print $1; else print $1 "@" $2 }' <<<"$line")
    new=$(awk '{ if (NF > 1) print $1 "@" $2; else print $1 }' <<<"${line#*=>}")
    case "$new" in
      ./* | ../* | /*)
        if [[ -n "$moddir" ]]; then
          [[ "$new" == /* ]] || new="$moddir/$new"
          [[ -d "$new" ]] || { echo "replace target $new (from $gomod) is missing" >&2; return 1; }
          go mod edit -replace="$old=$(cd "$new" && pwd)" || return 1
        elif [[ -n "$sibling" ]]; then
          go mod edit -require="${old%@*}@$sibling" || return 1
        else
          echo "cannot use the local replace '$line' of $gomod" >&2
          return 1
        fi
        ;;
      *) go mod edit -replace="$old=$new" || return 1 ;;
    esac
  done < <(upstream_replaces "$gomod")
}

# ---------------------------------------------------------------------------
# Per-component plan: fills the P_* variables (what to build, from where).
# Returns non-zero with P_ERROR set when no source could be had.
plan() {
  local c=$1 v
  P_MODULE="" P_VERSION="" P_DIR="" P_PKG="" P_LDFLAGS="" P_SIBLING="" P_SRCDIR=""
  P_COPY=0 P_LEGACY=0 P_LABEL="" P_FROM="" P_ERROR=""
  case "$c" in
    cli)
      P_MODULE=$CLI_MODULE P_PKG=$CLI_PKG
      if mod_download "$CLI_MODULE@v$SDK_VERSION"; then
        P_FROM="proxy"
      else
        P_ERROR="$CLI_MODULE@v$SDK_VERSION: $DL_ERROR"
        note "$P_ERROR"
        local served
        served=$(cd "$SCRATCH" && go list -m -versions "$CLI_MODULE" 2>/dev/null | tr ' ' '\n' |
          grep -E '^v[0-9]+\.[0-9]+\.[0-9]+$' | sort -V) || true
        for v in $served; do
          # Only releases newer than the SDK, lowest first.
          [[ "$v" != "v$SDK_VERSION" && "$(printf '%s\n' "v$SDK_VERSION" "$v" | sort -V | head -n 1)" == "v$SDK_VERSION" ]] ||
            continue
          if mod_download "$CLI_MODULE@$v"; then
            P_FROM="proxy; v$SDK_VERSION not served, nearest newer"
            break
          fi
          note "$CLI_MODULE@$v: $DL_ERROR"
        done
        [[ -n "$DL_DIR" ]] || return 1
      fi
      P_VERSION=$DL_VERSION P_DIR=$DL_DIR P_SIBLING=$DL_VERSION P_LABEL=$DL_VERSION P_ERROR=""
      P_LDFLAGS="-X $VERSION_VAR=$DL_VERSION"
      ;;
    python)
      P_MODULE=$PYHOST_MODULE P_PKG=$PYHOST_MODULE P_SIBLING="v$SDK_VERSION"
      P_LDFLAGS="-X $VERSION_VAR=v$SDK_VERSION" P_LABEL="v$SDK_VERSION"
      if [[ -n "${SRC[python]:-}" ]]; then
        P_SRCDIR="${SRC[python]}/$PYHOST_SUBDIR"
        [[ -f "$P_SRCDIR/go.mod" ]] || { P_ERROR="no $PYHOST_SUBDIR/go.mod under ${SRC[python]}"; return 1; }
        P_FROM="src ${SRC[python]}"
        return 0
      fi
      if [[ -n "$PYHOST_REV" ]]; then
        if mod_download "$PYHOST_MODULE@$PYHOST_REV"; then
          P_VERSION=$DL_VERSION P_DIR=$DL_DIR P_FROM="proxy $DL_VERSION"
          return 0
        fi
        note "$PYHOST_MODULE@$PYHOST_REV: $DL_ERROR"
      fi
      # The legacy host inside sdk/v3.
      if mod_download "$SDK_MODULE@$PYHOST_LEGACY_VERSION"; then
        P_MODULE=$SDK_MODULE P_PKG=$PYHOST_LEGACY_PKG P_VERSION=$DL_VERSION P_DIR=$DL_DIR
        P_SIBLING="" P_LEGACY=1 P_LABEL=$DL_VERSION
        P_LDFLAGS="-X $VERSION_VAR=$DL_VERSION"
        P_FROM="proxy, legacy host in $SDK_MODULE (own module not served)"
        return 0
      fi
      P_ERROR="$SDK_MODULE@$PYHOST_LEGACY_VERSION: $DL_ERROR"
      return 1
      ;;
    libvirt | command)
      local commit version repo
      if [[ $c == libvirt ]]; then
        P_MODULE=$LIBVIRT_MODULE P_PKG=$LIBVIRT_PKG commit=$LIBVIRT_COMMIT version=$LIBVIRT_VERSION
        P_LDFLAGS="-X $LIBVIRT_VAR=$LIBVIRT_VERSION" P_COPY=1 repo=pulumi-libvirt
      else
        P_MODULE=$COMMAND_MODULE P_PKG=$COMMAND_PKG commit=$COMMAND_COMMIT version=$COMMAND_VERSION
        P_LDFLAGS="-X $COMMAND_VAR=$COMMAND_VERSION" repo=pulumi-command
      fi
      P_LABEL=$version
      if [[ -n "${SRC[$c]:-}" ]]; then
        P_SRCDIR="${SRC[$c]}/provider"
        [[ -f "$P_SRCDIR/go.mod" ]] || { P_ERROR="no provider/go.mod under ${SRC[$c]} (a $repo checkout)"; return 1; }
        P_FROM="src ${SRC[$c]}"
        return 0
      fi
      if mod_download "$P_MODULE@$commit"; then
        P_VERSION=$DL_VERSION P_DIR=$DL_DIR P_FROM="proxy $DL_VERSION"
        return 0
      fi
      P_ERROR="$P_MODULE@$commit (tag v$version): $DL_ERROR; build it from a checkout of $repo at v$version with --src $c=DIR"
      return 1
      ;;
  esac
}

# What a stamp must say for the binary to count as up to date: the pins and
# the recipe, not where the source came from (proxy or --src checkout) nor the
# Go version, which the stamp records for information only.
spec_of() {
  local s="recipe=$RECIPE_REV sdk=$SDK_VERSION"
  case "$1" in
    cli) s+=" module=$CLI_MODULE" ;;
    python) s+=" module=$PYHOST_MODULE rev=$PYHOST_REV legacy=$PYHOST_LEGACY_VERSION" ;;
    libvirt) s+=" module=$LIBVIRT_MODULE version=$LIBVIRT_VERSION commit=$LIBVIRT_COMMIT" ;;
    command) s+=" module=$COMMAND_MODULE version=$COMMAND_VERSION commit=$COMMAND_COMMIT" ;;
  esac
  echo "$s"
}

# Where a --src checkout stands, for the stamp.
src_rev() {
  git -C "$1" describe --tags --always 2>/dev/null || echo "not a git checkout"
}

# run LOG CMD...: runs CMD with its output appended to LOG.
run() {
  local log=$1
  shift
  echo "+ $*" >>"$log"
  "$@" >>"$log" 2>&1
}

# Installs the Python host's exec shim from sdk/v3 at the SDK's version (or
# from the checkout) next to the host binary in $1.
install_python_extras() {
  local dest=$1 shim
  if [[ -n "${SRC[python]:-}" ]]; then
    shim="${SRC[python]}/sdk/python/cmd/pulumi-language-python-exec"
  else
    mod_download "$SDK_MODULE@v$SDK_VERSION" || { echo "$SDK_MODULE@v$SDK_VERSION: $DL_ERROR" >&2; return 1; }
    shim="$DL_DIR/python/cmd/pulumi-language-python-exec"
  fi
  [[ -f "$shim" ]] || { echo "missing $shim" >&2; return 1; }
  install -m 0755 "$shim" "$dest/pulumi-language-python-exec"
}

# The wrapper for the legacy host: passes Pulumi.yaml's virtualenv option as
# the -virtualenv flag (the CLI starts the host in the project directory).
write_python_wrapper() {
  cat >"$1" <<'EOF'
#!/bin/sh
# Written by scripts/pulumi-toolchain.sh. The Python language host built from
# the Go module proxy is an older release that takes the virtualenv as a flag,
# not from the runtime options that the CLI sends; this passes Pulumi.yaml's
# runtime.options.virtualenv (a plain scalar) on. Without it the host runs the
# python3 found on PATH (an activated virtualenv works as well).
set -e
host="$(dirname "$0")/../libexec/pulumi-language-python"
venv=""
if [ -f Pulumi.yaml ]; then
  venv=$(sed -n "s/^[[:space:]]*virtualenv:[[:space:]]*[\"']\{0,1\}\([^\"'#[:space:]]*\).*/\1/p" Pulumi.yaml | head -n 1)
fi
if [ -n "$venv" ]; then
  exec "$host" -root="$PWD" -virtualenv="$venv" "$@"
fi
exec "$host" "$@"
EOF
  chmod 0755 "$1"
}

# build COMPONENT: sets B_STATUS, B_VERSION, B_FROM, B_ERROR.
build() {
  local c=$1 bin log wrapper moddir target start
  bin=$(bin_name "$c")
  log="$LOG_DIR/$bin.log"
  wrapper="$WORK_DIR/$bin"
  : >"$log"
  B_STATUS=FAILED B_VERSION="-" B_FROM="" B_ERROR=""

  if ! plan "$c"; then
    B_ERROR=$P_ERROR
    return 1
  fi
  B_VERSION=$P_LABEL B_FROM=$P_FROM

  # The source folder the wrapper points at (a copy where a generate step
  # must write into it), or none: then the module comes from the module cache.
  moddir=""
  if [[ -n "$P_SRCDIR" || $P_COPY == 1 ]]; then
    moddir="$SRC_COPY_DIR/$bin"
    rm -rf "$moddir"
    mkdir -p "$SRC_COPY_DIR"
    cp -R "${P_SRCDIR:-$P_DIR}" "$moddir"
    chmod -R u+w "$moddir"
  fi

  rm -rf "$wrapper"
  mkdir -p "$wrapper"
  (
    cd "$wrapper" || exit 1
    run "$log" go mod init "toolchain.local/$bin" || exit 1
    printf '//go:build tools\n\n// Package tools pins the program this wrapper module builds.\npackage tools\n\nimport _ "%s"\n' \
      "$P_PKG" >tools.go
    if [[ -n "$moddir" ]]; then
      # Any version will do for a module replaced by a folder, if its major
      # version matches the path's /vN suffix.
      local major=0
      [[ ! "$P_MODULE" =~ /v([0-9]+)$ ]] || major=${BASH_REMATCH[1]}
      go mod edit -require="$P_MODULE@v$major.0.0-00010101000000-000000000000" -replace="$P_MODULE=$moddir" || exit 1
      # Local replaces resolve against the checkout (P_SRCDIR), not the copy.
      copy_replaces "$moddir/go.mod" "$P_SRCDIR" "$P_SIBLING" 2>>"$log" || exit 1
    else
      go mod edit -require="$P_MODULE@$P_VERSION" || exit 1
      copy_replaces "$P_DIR/go.mod" "" "$P_SIBLING" 2>>"$log" || exit 1
    fi
    # Start from upstream's go.sum: its hashes were checked when upstream
    # built, and a proxy need not serve checksum-database lookups for all
    # of them (the one used here answered 404 for
    # github.com/dmacvicar/terraform-provider-libvirt@v0.8.1).
    if [[ -f "${moddir:-$P_DIR}/go.sum" ]]; then
      cp "${moddir:-$P_DIR}/go.sum" go.sum
      chmod u+w go.sum
    fi
    echo "--- wrapper go.mod before tidy:" >>"$log"
    cat go.mod >>"$log"
    run "$log" go mod tidy || exit 1
  ) || { B_ERROR="wrapper module: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }

  # pulumi-resource-libvirt embeds schema-embed.json, which upstream's
  # generate.go writes from schema.json with the version set.
  if [[ $c == libvirt ]]; then
    (cd "$moddir/cmd/pulumi-resource-libvirt" && run "$log" env VERSION="$LIBVIRT_VERSION" go run generate.go) ||
      { B_ERROR="generate schema-embed.json: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }
  fi

  # The legacy Python host goes to libexec/ behind a wrapper in bin/; any
  # other binary straight to bin/ (a Python host with its exec shim beside it:
  # it looks for the shim next to itself).
  if [[ $P_LEGACY == 1 ]]; then
    target="$LIBEXEC_DIR/$bin"
  else
    target="$BIN_DIR/$bin"
    rm -f "$LIBEXEC_DIR/$bin"
  fi
  mkdir -p "$BIN_DIR" "$LIBEXEC_DIR"
  start=$SECONDS
  (cd "$wrapper" && run "$log" go build -trimpath -ldflags "-s -w $P_LDFLAGS" -o "$target.tmp" "$P_PKG") ||
    { B_ERROR="go build: $(tail -n 3 "$log" | tr '\n' ' ')"; rm -f "$target.tmp"; return 1; }
  echo "go build took $((SECONDS - start)) s" >>"$log"
  mv -f "$target.tmp" "$target"

  if [[ $c == python ]]; then
    install_python_extras "$(dirname "$target")" 2>>"$log" || { B_ERROR="exec shim: $(tail -n 1 "$log")"; return 1; }
    [[ $P_LEGACY == 0 ]] || write_python_wrapper "$BIN_DIR/$bin"
  fi
  B_STATUS=built
}

# ---------------------------------------------------------------------------
check() {
  local c bin path mod
  printf '%-26s %-12s %s\n' BINARY VERSION "SOURCE / DETAILS"
  for c in "${ALL_COMPONENTS[@]}"; do
    bin=$(bin_name "$c")
    path="$BIN_DIR/$bin"
    if [[ ! -x "$path" ]]; then
      printf '%-26s %-12s %s\n' "$bin" "-" "not installed ($path)"
      continue
    fi
    local version="?" from="no stamp"
    if [[ -f "$STAMP_DIR/$bin" ]]; then
      version=$(sed -n 2p "$STAMP_DIR/$bin")
      from=$(sed -n 3p "$STAMP_DIR/$bin")
    fi
    printf '%-26s %-12s %s\n' "$bin" "$version" "$from"
    [[ "$bin" != pulumi-language-python || ! -x "$LIBEXEC_DIR/$bin" ]] || path="$LIBEXEC_DIR/$bin"
    mod=$(go version -m "$path" 2>/dev/null | awk '$1 == "mod" || ($1 == "dep" && $2 ~ /pulumi-(libvirt|command)\/provider|pulumi\/sdk\/v3$/) { print "  " $1 " " $2 " " $3 " " $4 " " $5 }' | head -n 2)
    [[ -z "$mod" ]] || echo "$mod"
  done
  if [[ -x "$BIN_DIR/pulumi" ]]; then
    echo "pulumi version: $("$BIN_DIR/pulumi" version 2>&1)"
  fi
  case ":$PATH:" in
    *":$BIN_DIR:"*) echo "$BIN_DIR is on PATH." ;;
    *) echo "$BIN_DIR is not on PATH: export PATH=\"$BIN_DIR:\$PATH\"" ;;
  esac
}

if ((CHECK)); then
  check
  exit 0
fi

mkdir -p "$BIN_DIR" "$LIBEXEC_DIR" "$STAMP_DIR" "$LOG_DIR" "$WORK_DIR"
echo "pulumi-toolchain: building into $BIN_DIR with $(go env GOVERSION), GOPROXY=$(go env GOPROXY)"
echo "pulumi-toolchain: Go caches: GOMODCACHE=$(go env GOMODCACHE) GOCACHE=$(go env GOCACHE)"

ROWS=()
FAILED=0
TOTAL_START=$SECONDS
for c in "${ONLY[@]}"; do
  bin=$(bin_name "$c")
  spec=$(spec_of "$c")
  start=$SECONDS
  if ((!FORCE)) && [[ -x "$BIN_DIR/$bin" && -f "$STAMP_DIR/$bin" ]] &&
    [[ "$(sed -n 1p "$STAMP_DIR/$bin")" == "$spec" ]]; then
    ROWS+=("$(printf '%-26s %-8s %-10s %6s  %s' "$bin" skipped "$(sed -n 2p "$STAMP_DIR/$bin")" 0s "$(sed -n 3p "$STAMP_DIR/$bin")")")
    continue
  fi
  echo "pulumi-toolchain: building $bin (log: $LOG_DIR/$bin.log)"
  if build "$c"; then
    [[ -z "${SRC[$c]:-}" ]] || B_FROM+=" ($(src_rev "${SRC[$c]}"))"
    printf '%s\n%s\n%s\n%s\n' "$spec" "$B_VERSION" "$B_FROM" "built $(date -u +%FT%TZ) with $(go env GOVERSION)" \
      >"$STAMP_DIR/$bin"
  else
    # A binary and stamp from an earlier build stay as they were.
    FAILED=1
    note "$bin FAILED: $B_ERROR"
  fi
  detail=$B_FROM
  [[ $B_STATUS != FAILED ]] || detail=$B_ERROR
  ROWS+=("$(printf '%-26s %-8s %-10s %6s  %s' "$bin" "$B_STATUS" "$B_VERSION" "$((SECONDS - start))s" "$detail")")
done

echo
printf '%-26s %-8s %-10s %6s  %s\n' BINARY STATUS VERSION TIME SOURCE
printf '%s\n' "${ROWS[@]}"
printf '%-26s %-8s %-10s %6s\n' total "" "" "$((SECONDS - TOTAL_START))s"
cat <<EOF

To use it:
  export PATH="$BIN_DIR:\$PATH"
pulumi then finds the providers as ambient plugins: with
PULUMI_IGNORE_AMBIENT_PLUGINS unset (the default) the engine takes a
pulumi-resource-<name> binary found on PATH before its plugin cache, and it
finds the language host pulumi-language-python on PATH too, so it never tries
a download.
(It warns "using pulumi-resource-<name> from \$PATH"; 'pulumi plugin ls'
lists only the plugin cache, so it shows none of these.) See what is
installed with: $0 --check
EOF
exit "$FAILED"
