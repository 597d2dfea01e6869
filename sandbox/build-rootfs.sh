#!/usr/bin/env bash
# build-rootfs.sh — the offline way to make the restem sandbox image.
#
# Where no image registry can be reached, `docker build` of sandbox/Dockerfile
# cannot get its debian base image. This script instead bootstraps a minimal
# Debian (python3-minimal + python3-numpy) straight from a Debian apt mirror
# with debootstrap, strips what the sandbox never uses, and writes it as a
# tarball that `docker import` turns into an image (src/sandbox/image.ts does
# that, adding the harness with --overlay).
#
# The stripped base rootfs is cached as
#   ${XDG_CACHE_HOME:-$HOME/.cache}/restem/rootfs-<recipe hash>.tar
# where the recipe hash covers the "recipe" block below, the suite and the
# architecture, so a harness change never re-runs debootstrap.
#
# Usage: build-rootfs.sh [--out FILE] [--overlay DIR] [--refresh]
#   --out FILE     write the import-ready tarball (base + overlay) to FILE;
#                  without it, only make sure the cached base exists
#   --overlay DIR  add DIR's contents at / of the tarball, owned by root and
#                  world-readable (only new paths; existing directories stay)
#   --refresh      rebuild the cached base even if it exists
# Environment: RESTEM_DEBIAN_MIRROR and RESTEM_DEBIAN_SUITE override the
# mirror and suite read from /etc/apt/sources.list* and /etc/os-release.
# The last line printed on stdout is the path of the tarball; progress goes
# to stderr. Debootstrapping needs root and debootstrap; reusing the cache
# does not.
set -euo pipefail

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export LC_ALL=C

readonly DEFAULT_MIRROR="http://deb.debian.org/debian"
readonly DEFAULT_SUITE="bookworm"

die() {
  echo "build-rootfs: error: $*" >&2
  exit 1
}
log() {
  echo "build-rootfs: $*" >&2
}

out=""
overlay=""
refresh=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a file"; out="$2"; shift 2 ;;
    --overlay) [ $# -ge 2 ] || die "--overlay needs a directory"; overlay="$2"; shift 2 ;;
    --refresh) refresh=1; shift ;;
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done
if [ -n "$overlay" ] && [ ! -d "$overlay" ]; then
  die "--overlay $overlay is not a directory"
fi

# --- scratch space ----------------------------------------------------------

workdir=""
tmp_out=""
unmount_under() {
  # debootstrap mounts proc/sys (and in containers binds /dev) inside the
  # target; they must go before anything there is archived or deleted.
  local m
  awk -v root="$1/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
  if [ -n "$workdir" ] && [ -d "$workdir" ]; then
    unmount_under "$workdir"
    rm -rf --one-file-system "$workdir"
  fi
  workdir=""
  if [ -n "$tmp_out" ]; then rm -f "$tmp_out"; fi
}
trap cleanup EXIT
new_workdir() {
  workdir="$(mktemp -d "${TMPDIR:-/var/tmp}/restem-rootfs.XXXXXX")"
}

# >>> recipe: what goes into the base rootfs (hashed into the cache name)
PACKAGES="python3-minimal,python3-numpy"

# Remove what a judge sandbox never uses; python3 and numpy must keep working.
strip_rootfs() {
  local r="$1"
  rm -rf "$r"/var/cache/apt/* "$r"/var/lib/apt/lists/*
  rm -rf "$r"/var/cache/debconf/*-old "$r"/var/lib/dpkg/*-old
  rm -rf "$r"/var/log/* "$r"/var/cache/ldconfig/aux-cache
  rm -rf "$r"/usr/share/man "$r"/usr/share/info "$r"/usr/share/lintian "$r"/usr/share/linda
  rm -rf "$r"/usr/share/locale/* "$r"/usr/share/i18n
  # Docs go, licences stay.
  find "$r"/usr/share/doc -mindepth 1 \( -type f -o -type l \) ! -name copyright -delete
  find "$r"/usr/share/doc -mindepth 1 -type d -empty -delete
  # Docker provides these at run time; the host's copies must not leak in.
  rm -f "$r"/etc/resolv.conf "$r"/etc/hostname "$r"/etc/machine-id
  rm -rf "$r"/debootstrap
}

# make_rootfs SUITE ARCH MIRROR TARGET TARBALL
make_rootfs() {
  local suite="$1" arch="$2" mirror="$3" target="$4" tarball="$5"
  debootstrap --variant=minbase --arch="$arch" --include="$PACKAGES" \
    "$suite" "$target" "$mirror" >&2 || return 1
  unmount_under "$target"
  strip_rootfs "$target"
  # Smoke test before caching: the sandbox is useless without these.
  chroot "$target" /usr/bin/python3 -c 'import numpy; numpy.dot(numpy.ones(3), numpy.ones(3))' ||
    die "python3/numpy do not work in the built root filesystem"
  tar --create --file "$tarball" --numeric-owner --sort=name --directory "$target" \
    --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' --exclude='./run/*' \
    --exclude='./tmp/*' --exclude='./var/tmp/*' .
}
# <<< recipe

# --- mirror, suite, architecture --------------------------------------------

# First http(s) URI of a Debian archive (path ending in /debian) in the host's
# apt sources: one-line "deb [opts] URI suite ..." lists and deb822 "URIs:".
find_mirror() {
  local f uri
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    while read -r uri; do
      case "$uri" in
        http://*/debian | https://*/debian | http://*/debian/ | https://*/debian/)
          echo "${uri%/}"
          return 0
          ;;
      esac
    done < <(
      if [[ "$f" == *.sources ]]; then
        # deb822: only stanzas whose Types include "deb" (not just deb-src).
        awk 'BEGIN { RS = ""; FS = "\n" }
             {
               types = ""; uris = ""
               for (i = 1; i <= NF; i++) {
                 if ($i ~ /^[Tt]ypes:/) types = $i
                 if ($i ~ /^URIs:/) { uris = $i; sub(/^URIs:[ \t]*/, "", uris) }
               }
               if (types ~ /(^|[ \t:])deb([ \t]|$)/ && uris != "") {
                 n = split(uris, u, /[ \t]+/)
                 for (j = 1; j <= n; j++) if (u[j] != "") print u[j]
               }
             }' "$f"
      else
        sed -n -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p' "$f"
      fi
    )
  done
  return 1
}

find_suite() {
  local id="" codename=""
  if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    id="$(. /etc/os-release && echo "${ID:-}")"
    # shellcheck source=/dev/null
    codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
  fi
  # Only a Debian host's codename names a suite on a Debian mirror.
  if [ "$id" = "debian" ] && [ -n "$codename" ]; then
    echo "$codename"
  else
    echo "$DEFAULT_SUITE"
  fi
}

mirror="${RESTEM_DEBIAN_MIRROR:-$(find_mirror || echo "$DEFAULT_MIRROR")}"
suite="${RESTEM_DEBIAN_SUITE:-$(find_suite)}"
if command -v dpkg >/dev/null 2>&1; then
  arch="$(dpkg --print-architecture)"
else
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64) arch=arm64 ;;
    *) die "cannot tell the Debian architecture of $(uname -m); install dpkg" ;;
  esac
fi

# --- the cached base --------------------------------------------------------

recipe_hash="$(
  {
    sed -n '/^# >>> recipe/,/^# <<< recipe/p' "$0"
    printf 'suite=%s\narch=%s\n' "$suite" "$arch"
  } | sha256sum | cut -c1-12
)"
cache_root="${XDG_CACHE_HOME:-${HOME:-/root}/.cache}"
cache_owner=""
# Under `sudo restem ...`, cache for the user who ran sudo: their later,
# unprivileged builds then find the base without needing root again.
if [ -z "${XDG_CACHE_HOME:-}" ] && [ "$(id -u)" = 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  sudo_home="$(getent passwd "$SUDO_USER" | cut -d: -f6 || true)"
  if [ -n "$sudo_home" ] && [ -d "$sudo_home" ] && [ -n "${SUDO_UID:-}" ] && [ -n "${SUDO_GID:-}" ]; then
    cache_root="$sudo_home/.cache"
    cache_owner="$SUDO_UID:$SUDO_GID"
  fi
fi
cache_dir="$cache_root/restem"
base_tar="$cache_dir/rootfs-$recipe_hash.tar"
give_to_owner() {
  if [ -n "$cache_owner" ]; then chown "$cache_owner" "$@"; fi
}
[ -d "$cache_root" ] || { mkdir -p "$cache_root" && give_to_owner "$cache_root"; }
[ -d "$cache_dir" ] || { mkdir -p "$cache_dir" && give_to_owner "$cache_dir"; }

# One build at a time per cache (two `restem image build`s racing).
exec 9>>"$cache_dir/.rootfs.lock"
give_to_owner "$cache_dir/.rootfs.lock"
flock 9

if [ "$refresh" = 1 ] || [ ! -s "$base_tar" ]; then
  if [ "$(id -u)" != 0 ]; then
    die "building the sandbox root filesystem runs debootstrap, which needs root.
  Run it once as root (e.g. \`sudo restem image build\`, or \`sudo $0\`); later builds
  reuse the cached $base_tar."
  fi
  if ! command -v debootstrap >/dev/null 2>&1; then
    die "debootstrap is not installed. Install it with \`sudo apt-get install debootstrap\` and retry."
  fi
  # debootstrap fetches with wget; use apt's proxy if the host has one.
  if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null 2>&1; then
    apt_proxy=""
    eval "$(apt-config shell apt_proxy Acquire::http::Proxy)"
    if [ -n "$apt_proxy" ] && [ "$apt_proxy" != DIRECT ]; then
      export http_proxy="$apt_proxy"
    fi
  fi

  log "debootstrap $suite ($arch, minbase + $PACKAGES) from $mirror"
  started=$SECONDS
  for attempt in 1 2; do
    new_workdir
    if make_rootfs "$suite" "$arch" "$mirror" "$workdir/root" "$workdir/rootfs.tar"; then
      break
    fi
    if [ "$attempt" = 2 ]; then
      if [ -r "$workdir/root/debootstrap/debootstrap.log" ]; then
        tail -n 30 "$workdir/root/debootstrap/debootstrap.log" >&2
      fi
      die "debootstrap failed (mirror $mirror, suite $suite). Check that the mirror is reachable, or set RESTEM_DEBIAN_MIRROR / RESTEM_DEBIAN_SUITE."
    fi
    log "debootstrap failed; retrying from scratch"
    cleanup
  done
  mv -f "$workdir/rootfs.tar" "$base_tar"
  give_to_owner "$base_tar"
  cleanup
  # Older recipes' bases are dead weight now.
  find "$cache_dir" -maxdepth 1 -name 'rootfs-*.tar' ! -name "rootfs-$recipe_hash.tar" -delete
  log "built and cached $base_tar ($(du -h "$base_tar" | cut -f1)) in $((SECONDS - started)) s"
else
  log "reusing cached $base_tar"
fi

# --- the import-ready tarball -----------------------------------------------

if [ -z "$out" ]; then
  echo "$base_tar"
  exit 0
fi
tmp_out="$out.partial.$$"
cp -f "$base_tar" "$tmp_out"
if [ -n "$overlay" ]; then
  # docker import rejects a tarball naming a path twice, so append only what the
  # base lacks: directories it already has are kept, files must be new.
  new_workdir
  tar --list --file "$base_tar" | sed -e 's|^\./||' -e 's|/$||' | sort -u >"$workdir/base.list"
  (cd "$overlay" && find . -mindepth 1 | sed 's|^\./||' | sort -u) >"$workdir/overlay.list"
  while IFS= read -r p; do
    if [ ! -d "$overlay/$p" ] || [ -L "$overlay/$p" ]; then
      die "--overlay would replace /$p of the base rootfs"
    fi
  done < <(comm -12 "$workdir/overlay.list" "$workdir/base.list")
  comm -23 "$workdir/overlay.list" "$workdir/base.list" >"$workdir/append.list"
  if [ -s "$workdir/append.list" ]; then
    # Root-owned, not writable by the sandbox user, readable by everyone.
    tar --append --file "$tmp_out" --numeric-owner --owner=0 --group=0 \
      --mode='u+rwX,go+rX,go-w' --no-recursion --directory "$overlay" \
      --verbatim-files-from --files-from "$workdir/append.list"
  fi
fi
mv -f "$tmp_out" "$out"
tmp_out=""
echo "$out"
