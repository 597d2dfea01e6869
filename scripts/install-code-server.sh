#!/usr/bin/env bash
# Installs code-server (VS Code in the browser, Node extension host) for the
# end-to-end tests from the npm registry alone: no install script downloads
# anything (prebuilt binaries, ripgrep, node-gyp, Node headers), the native
# modules are compiled against this Node with its own headers, Debian's ripgrep
# stands in for the downloaded one. Idempotent (a finished install is stamped and
# reused); prints the install directory on its last line.
#   scripts/install-code-server.sh [DIR]   (default ~/.cache/restem/code-server-<version>)
set -euo pipefail

VERSION="${RESTEM_CODE_SERVER_VERSION:-4.100.3}"
DIR="${1:-${RESTEM_CODE_SERVER_DIR:-$HOME/.cache/restem/code-server-$VERSION}}"
ROOT="$DIR/node_modules/code-server"
VSCODE="$ROOT/lib/vscode"
STAMP="$DIR/.restem-installed"

if [ -f "$STAMP" ] && [ -f "$ROOT/out/node/entry.js" ]; then
  echo "$DIR"
  exit 0
fi

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: ripgrep for search, headers for the native modules' rebuild.
need=()
command -v rg >/dev/null 2>&1 || need+=(ripgrep)
for pkg in libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  as_root apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -q --no-install-recommends "${need[@]}" >&2
fi

mkdir -p "$DIR"
cd "$DIR"
[ -f package.json ] || echo '{"name":"restem-code-server","private":true}' > package.json

echo "npm install code-server@$VERSION" >&2
npm_config_unsafe_perm=true npm install --no-audit --no-fund --ignore-scripts "code-server@$VERSION" >&2

echo "installing VS Code's own dependencies" >&2
(cd "$VSCODE" && npm_config_unsafe_perm=true npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2)

# The ripgrep package downloads its binary in a postinstall script; use Debian's.
mkdir -p "$VSCODE/node_modules/@vscode/ripgrep/bin"
ln -sf "$(command -v rg)" "$VSCODE/node_modules/@vscode/ripgrep/bin/rg"

# node-pty's post-install script runs `npx node-gyp configure`; npx would fetch
# node-gyp from the registry and, with yes=false (or no TTY), refuses to. npx
# first looks for a node_modules/.bin/node-gyp in the directories above the
# package, so link npm's own bundled node-gyp there. Where npm has none, let npx
# fetch it without asking.
NPM_CLI="$(readlink -f "$(command -v npm)")"
BUNDLED_GYP="$(dirname "$NPM_CLI")/../node_modules/node-gyp/bin/node-gyp.js"
if [ -f "$BUNDLED_GYP" ]; then
  mkdir -p "$VSCODE/node_modules/.bin"
  ln -sf "$(readlink -f "$BUNDLED_GYP")" "$VSCODE/node_modules/.bin/node-gyp"
else
  export npm_config_yes=true
fi

# node-gyp downloads Node's headers unless told where they are; use the ones
# installed with this Node (Debian's and the official builds ship them).
if [ -z "$(npm config get nodedir 2>/dev/null | grep -v '^undefined$' || true)" ]; then
  NODE_PREFIX="$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")"
  if [ -f "$NODE_PREFIX/include/node/common.gypi" ]; then
    export npm_config_nodedir="$NODE_PREFIX"
  fi
fi

echo "rebuilding native modules" >&2
(cd "$VSCODE" && npm rebuild >&2)
# argon2 (password hashing, loaded at start-up even with --auth none) is hoisted
# to the top-level node_modules; its install script would download a prebuilt
# binary, so compile it instead.
(cd "$DIR" && npm_config_build_from_source=true npm rebuild argon2 >&2)

# What code-server's own post-install script does besides the above: the
# built-in extensions' shared dependency (TypeScript, for the TS/JS language
# features), the node_modules.asar link VS Code's loader asks for when it runs
# from a packaged build, and the platform scripts of the remote CLI and helpers.
(cd "$VSCODE/extensions" && npm install --no-audit --no-fund --omit=dev --ignore-scripts >&2 && node postinstall.mjs >/dev/null)
[ -e "$VSCODE/node_modules.asar" ] || ln -s node_modules "$VSCODE/node_modules.asar"
ln -sfn code-linux.sh "$VSCODE/bin/remote-cli/code-server"
ln -sfn browser-linux.sh "$VSCODE/bin/helpers/browser.sh"

# Every native module must load under this Node before the install counts.
(cd "$VSCODE" && node -e '
  for (const m of ["node-pty", "@vscode/spdlog", "native-watchdog", "@parcel/watcher", "kerberos"]) require(m);
') >&2
(cd "$DIR" && node -e 'require("argon2")') >&2

touch "$STAMP"
echo "$DIR"
