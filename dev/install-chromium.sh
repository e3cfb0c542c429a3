#!/usr/bin/env bash
# Install Debian's chromium for the browser tests (tests/e2e) when it is missing.
# Playwright drives this system browser; its own browser download is never used.
# Where it cannot be installed (not root, no apt-get), say so and let the tests skip,
# except in CI (CI=true), where a missing browser is an error.
set -euo pipefail
CHROMIUM=/usr/bin/chromium

if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi

cannot_install() {
    if [[ "${CI:-}" == "true" ]]; then
        echo "error: $CHROMIUM is missing and $1; the browser tests cannot run in CI." >&2
        exit 1
    fi
    echo "note: $CHROMIUM is missing and $1: the browser tests (tests/e2e) will be skipped." >&2
    echo "      Install Debian's chromium package (apt-get install chromium) to run them." >&2
    exit 0
}

command -v apt-get >/dev/null || cannot_install "apt-get is not available"
[[ "$(id -u)" == "0" ]] || cannot_install "installing it needs root"

echo "Installing Debian's chromium for the browser tests (once)..."
export DEBIAN_FRONTEND=noninteractive
# Wait for another apt run (other projects on the same machine) instead of failing at once.
if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
        apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null; }; then
    cannot_install "apt-get could not install it"
fi
[[ -x "$CHROMIUM" ]] || cannot_install "apt-get did not install it"
"$CHROMIUM" --version 2>/dev/null
