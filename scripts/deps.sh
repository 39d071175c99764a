#!/usr/bin/env bash
# Install the Debian packages the harness needs (idempotent; apt as root or via sudo).
# Usage: scripts/deps.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

PKGS=(
	build-essential flex bison bc libelf-dev libssl-dev kmod cpio xz-utils
	rsync python3 python3-ply python3-git perl git ccache sparse
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross
	busybox-static
	# our QEMU (scripts/build-qemu.sh): build dependencies, and Debian's
	# firmware for it; meson comes from bookworm-backports through that script
	ninja-build pkg-config libglib2.0-dev libpixman-1-dev libfdt-dev zlib1g-dev
	python3-venv python3-setuptools qemu-system-data seabios
	linux-source-6.12
)

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done

# arm64 guests need an arm64 busybox: fetched as a .deb, unpacked under build/.
need_arm64_arch=0
dpkg --print-foreign-architectures | grep -qx arm64 || need_arm64_arch=1

if [ ${#missing[@]} -eq 0 ] && [ $need_arm64_arch = 0 ]; then
	log "all packages present"
else
	t0=$(now)
	[ $need_arm64_arch = 0 ] || $SUDO dpkg --add-architecture arm64
	log "installing: ${missing[*]:-(arm64 package lists)}"
	$SUDO apt-get update -qq || die "apt-get update failed: check /etc/apt/sources.list"
	if [ ${#missing[@]} -gt 0 ] && ! DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >"${TMPDIR:-/tmp}/deps-apt.log" 2>&1; then
		tail -5 "${TMPDIR:-/tmp}/deps-apt.log" >&2
		if ! apt-cache policy linux-source-6.12 | grep -q Candidate:.*[0-9]; then
			die "linux-source-6.12 is not available: it comes from Debian's bookworm-security suite; enable that suite in your apt sources (see /etc/apt/sources.list.d/), or give a 6.12.y tree with LINUX_SRC=/path"
		fi
		die "apt-get install failed (log: ${TMPDIR:-/tmp}/deps-apt.log)"
	fi
	log "installed in $(elapsed "$t0")s"
fi

bb=$BUILD/debs/busybox-arm64/bin/busybox
if [ ! -x "$bb" ]; then
	mkdir -p "$BUILD/debs" && cd "$BUILD/debs"
	apt-get download -q busybox-static:arm64 >/dev/null 2>&1 ||
		{ $SUDO apt-get update -qq && apt-get download -q busybox-static:arm64 >/dev/null; } ||
		die "cannot download busybox-static:arm64 (is 'dpkg --add-architecture arm64' allowed?)"
	dpkg-deb -x busybox-static_*_arm64.deb busybox-arm64
	[ -x "$bb" ] || die "busybox-static:arm64 did not contain bin/busybox"
	log "arm64 busybox unpacked"
fi
