#!/usr/bin/env bash
# Copies the inputs the fuzzer found interesting (kept in Go's build cache)
# into each package's testdata/fuzz/<Target>/, so that every plain `go test`
# replays them and the corpus outlives this machine. Run after `make fuzz`,
# review the diff, commit it. Inputs over 8 KiB are skipped to keep the
# repository small.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=$(go list -m)
cache="$(go env GOCACHE)/fuzz/$mod"
[ -d "$cache" ] || { echo "no fuzz cache at $cache: run make fuzz first"; exit 0; }
for target in "$cache"/*/Fuzz* "$cache"/*/*/Fuzz*; do
  [ -d "$target" ] || continue
  rel=${target#"$cache"/}
  pkg=$(dirname "$rel")
  name=$(basename "$rel")
  [ -d "$pkg" ] || continue
  mkdir -p "$pkg/testdata/fuzz/$name"
  find "$target" -maxdepth 1 -type f -size -9k -exec cp -n {} "$pkg/testdata/fuzz/$name/" \;
done
git status --short -- '*/testdata/fuzz'
