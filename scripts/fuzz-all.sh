#!/usr/bin/env bash
# Runs every Fuzz* target of every package for FUZZTIME (default 30s) each.
# Go can fuzz only one target per invocation, hence the loop.
set -euo pipefail
FUZZTIME=${FUZZTIME:-30s}
cd "$(dirname "$0")/.."
for pkg in $(go list ./...); do
  dir=$(go list -f '{{.Dir}}' "$pkg")
  targets=$(grep -hoE '^func (Fuzz[A-Za-z0-9_]+)\(' "$dir"/*_test.go 2>/dev/null | sed -E 's/^func (Fuzz[A-Za-z0-9_]+)\(/\1/' | sort -u || true)
  for t in $targets; do
    echo "fuzz $pkg $t for $FUZZTIME"
    go test -run '^$' -fuzz "^${t}\$" -fuzztime "$FUZZTIME" "$pkg"
  done
done
