#!/bin/sh
# The `solc` that forge runs (see foundry.toml): scripts/solc_shim.ts on Deno with solc-js.
# Deno is $ARTHA_DENO if set, else `deno` on PATH, else the pinned npm build through npx.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
set -- run --quiet --no-prompt --allow-read --allow-env --config "$root/deno.json" \
  "$root/scripts/solc_shim.ts" "$@"
if [ -n "${ARTHA_DENO:-}" ]; then
  exec "$ARTHA_DENO" "$@"
elif command -v deno >/dev/null 2>&1; then
  exec deno "$@"
else
  exec npx --yes deno@2.9.6 "$@"
fi
