#!/usr/bin/env bash
# Regenerate series/ from the commits on top of "base" in build/linux.
# The cover letter's subject and body come from build/linux's branch
# description (set from series/0000-cover-letter.patch when assembling; edit
# it with 'git -C build/linux branch --edit-description').
# Usage: scripts/export.sh
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ -d "$TREE/.git" ] || die "no assembled tree at $TREE: run 'make assemble' first"
[ -z "$(git -C "$TREE" status --porcelain --untracked-files=no)" ] ||
	die "build/linux has uncommitted edits: commit them there first (git -C build/linux commit)"
n=$(git -C "$TREE" rev-list --count base..HEAD)
[ "$n" -gt 0 ] || die "no commits on top of base in build/linux: nothing to export"

rm -f "$TOP"/series/[0-9][0-9][0-9][0-9]-*.patch
git -C "$TREE" format-patch -q --zero-commit --no-signature --cover-letter \
	--cover-from-description=subject --subject-prefix='PATCH' \
	-o "$TOP/series" base..HEAD
# Record the exported head so assemble.sh sees the tree as exported.
ver=$(sed -n 's/^version=//p' "$BUILD/assemble.stamp")
series=$(find "$TOP/series" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
sed -i '/^series=/d;/^head=/d' "$BUILD/assemble.stamp"
printf 'series=%s\nhead=%s\n' "$(cat $series | sha1sum | cut -c1-16)" \
	"$(git -C "$TREE" rev-parse HEAD)" >>"$BUILD/assemble.stamp"
log "exported $n patches on Linux $ver to series/ (commit them in the project repo)"
git -C "$TOP" status --short series
