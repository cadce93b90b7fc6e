#!/usr/bin/env bash
# Install the pinned npm peers used by the interop tests:
#   tests/interop/tsmls  - ts-mls 1.6.4 and its suite-3 crypto peers (tests/interop)
#   tests/interop/xwing  - two independent X-Wing draft-06 / HPKE implementations (tests/mls/test_xwing.py)
#
# Idempotent and fast when already installed: each peer's packages go into its node_modules (git-ignored) with
# `npm ci` from the committed package-lock.json, and a stamp holding the lock file's hash skips the install
# while the lock file is unchanged.
#
# Without node/npm, or when the npm registry is unreachable, this warns and exits 0 so that `make test`
# still runs (the interop tests then skip and say why). PYXMTP_REQUIRE_INTEROP=1 turns that into a failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

give_up() {
    echo "setup_interop: $1; the npm interop peers' tests will be skipped" >&2
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

# install_peer DIR PACKAGE VERSION: npm ci in DIR unless its stamp matches the lock; then check PACKAGE's version
install_peer() {
    local dir="$ROOT/$1" package="$2" version="$3"
    local lock="$dir/package-lock.json" stamp="$dir/node_modules/.pyxmtp-lock.sha256"
    local want
    want="$(sha256sum "$lock" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$dir/node_modules/$package/package.json" ]; then
        return 0
    fi
    echo "setup_interop: installing $package $version (and the rest of $1/package.json)" >&2
    if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2); then
        give_up "npm ci failed in $1 (is the npm registry reachable?)"
    fi
    local got
    got="$(node -p 'require(process.argv[1]).version' "$dir/node_modules/$package/package.json")"
    [ "$got" = "$version" ] || give_up "installed $package is $got, expected $version"
    echo "$want" >"$stamp"
}

install_peer tests/interop/tsmls ts-mls 1.6.4
install_peer tests/interop/xwing @hpke/hybridkem-x-wing 0.7.0
