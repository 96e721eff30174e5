#!/usr/bin/env bash
# Fails when a committed *_templ.go differs from what `templ generate` makes of
# its .templ file (or is missing). Writes nothing.
set -euo pipefail
status=0
while IFS= read -r f; do
  g="${f%.templ}_templ.go"
  if [ ! -f "$g" ]; then echo "templ: $g is missing (run make generate)"; status=1; continue; fi
  # `make generate` runs templ with -path internal, which names files
  # relative to internal/ in the generated code; generate the same way.
  if ! (cd internal && go tool templ generate -f "${f#internal/}" -stdout 2>/dev/null) | diff -q - "$g" >/dev/null; then
    echo "templ: $g is stale (run make generate and commit it)"; status=1
  fi
done < <(find internal -name '*.templ' | sort)
exit $status
