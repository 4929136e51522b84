#!/usr/bin/env bash
# Supply-chain checks with cargo-deny (policy in deny.toml): licences, banned crates (the
# unmaintained `backoff`, a second TLS stack) and sources (crates.io only) always; RustSec
# advisories where the advisory database can be fetched.
#
# KYTE_ADVISORIES=required (default) fails when the database cannot be fetched;
# KYTE_ADVISORIES=if-reachable says so loudly and goes on (CI: the database lives in a git
# repository that CI's network does not reach; only package registries are open to it).
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_VERSION=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$DENY_VERSION"; then
  echo "==> installing cargo-deny $DENY_VERSION from crates.io"
  cargo install --locked --quiet "cargo-deny@$DENY_VERSION"
fi

echo "==> cargo deny: bans, licenses, sources"
cargo deny --locked check bans licenses sources

echo "==> cargo deny: advisories"
if cargo deny --locked fetch db; then
  cargo deny --locked --offline check advisories
elif [ "${KYTE_ADVISORIES:-required}" = if-reachable ]; then
  echo "!!! ADVISORIES NOT CHECKED: the RustSec database could not be fetched from here." >&2
  echo "!!! Run scripts/audit.sh where it can (KYTE_ADVISORIES=required) before a release." >&2
else
  echo "the RustSec advisory database could not be fetched (set KYTE_ADVISORIES=if-reachable to go on without it)" >&2
  exit 1
fi
