#!/usr/bin/env bash
# Fails when a committed *_templ.go differs from what `make generate`
# (templ generate -path internal) makes of its .templ file, or is missing.
# It generates into a scratch copy, so it writes nothing here.
set -euo pipefail
templ=$(go tool -n templ)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/internal"
(cd internal && find . -name '*.templ' -exec cp --parents {} "$tmp/internal/" \;)
(cd "$tmp" && "$templ" generate -path internal >/dev/null 2>&1)
status=0
while IFS= read -r f; do
  g="${f%.templ}_templ.go"
  if [ ! -f "$g" ]; then echo "templ: $g is missing (run make generate)"; status=1; continue; fi
  if ! diff -q "$tmp/$g" "$g" >/dev/null; then
    echo "templ: $g is stale (run make generate and commit it)"; status=1
  fi
done < <(find internal -name '*.templ' | sort)
exit $status
