#!/usr/bin/env bash
# Install the pinned ts-mls peer used by tests/interop (ts-mls 1.6.4 and its suite-3 crypto peers).
#
# Idempotent and fast when already installed: the packages go into tests/interop/tsmls/node_modules
# (git-ignored) with `npm ci` from the committed package-lock.json, and a stamp holding the lock file's
# hash skips the install while the lock file is unchanged.
#
# Without node/npm, or when the npm registry is unreachable, this warns and exits 0 so that `make test`
# still runs (the interop tests then skip and say why). PYXMTP_REQUIRE_INTEROP=1 turns that into a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="$ROOT/tests/interop/tsmls"
LOCK="$DIR/package-lock.json"
STAMP="$DIR/node_modules/.pyxmtp-lock.sha256"

give_up() {
    echo "setup_interop: $1; ts-mls interop tests will be skipped" >&2
    if [ "${PYXMTP_REQUIRE_INTEROP:-}" = "1" ]; then
        echo "setup_interop: PYXMTP_REQUIRE_INTEROP=1, failing" >&2
        exit 1
    fi
    exit 0
}

command -v node >/dev/null 2>&1 || give_up "node not found on PATH (need Node >= 20)"
command -v npm >/dev/null 2>&1 || give_up "npm not found on PATH"

major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$major" -ge 20 ] || give_up "node $(node --version) is too old (need >= 20)"

want="$(sha256sum "$LOCK" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -f "$DIR/node_modules/ts-mls/package.json" ]; then
    exit 0
fi

echo "setup_interop: installing ts-mls 1.6.4 into $DIR/node_modules" >&2
if ! (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >&2); then
    give_up "npm ci failed (is the npm registry reachable?)"
fi
got="$(node -p 'require(process.argv[1]).version' "$DIR/node_modules/ts-mls/package.json")"
[ "$got" = "1.6.4" ] || give_up "installed ts-mls is $got, expected 1.6.4"
echo "$want" >"$STAMP"
