#!/usr/bin/env bash
# CI step for the end-to-end tests (test/e2e/): on Debian, installs what they need and is
# missing — Debian's chromium (driven by playwright-core, no browser download), a font for
# readable screenshots, ripgrep (code-server's search), and the compilers and headers that
# code-server's native modules are rebuilt with — then installs code-server itself from npm
# with scripts/install-code-server.sh (idempotent; a cached install is reused). Under CI=true
# the e2e suite fails instead of skipping when any of this is absent, so run this first.
#   .ci/install-e2e.sh        prints the code-server directory on its last line
set -euo pipefail

cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# No pipes into early-exiting readers (head, grep -q) under pipefail: the reader may close
# the pipe before the writer is done, the writer then dies of SIGPIPE or fails with EPIPE
# ("error: broken pipe"), and pipefail turns that into a failed CI run. Capture, then test.
have_package() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

first_line() {
  printf '%s\n' "${1%%$'\n'*}"
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v rg >/dev/null 2>&1 || missing+=(ripgrep)
# code-server's native modules (node-pty, spdlog, kerberos, argon2, ...) build with node-gyp.
command -v make >/dev/null 2>&1 || missing+=(make)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
for pkg in libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config fonts-dejavu-core; do
  have_package "$pkg" || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "=== installing ${missing[*]} ($(date -u +%H:%M:%S))"
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

/usr/bin/chromium --version
first_line "$(rg --version)"

echo "=== code-server ($(date -u +%H:%M:%S))"
bash scripts/install-code-server.sh
