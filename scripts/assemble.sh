#!/usr/bin/env bash
# Assemble build/linux: the 6.12.y base, pruned of upstream's dirty tracking
# (one commit, tagged "base"), then series/*.patch applied with git am.
# Safe to run again: does nothing when base, prune rules and series are
# unchanged; re-applies only the series when only series/ changed; never
# discards commits or edits in build/linux that are not exported (see README).
# Usage: scripts/assemble.sh [--force]   (env: LINUX_SRC=dir-or-tarball)
set -euo pipefail
. "$(dirname "$0")/lib.sh"

FORCE=${FORCE:-0}
[ "${1:-}" = --force ] && FORCE=1
STAMP=$BUILD/assemble.stamp
t0=$(now)

# --- locate the base -------------------------------------------------------
SRC=${LINUX_SRC:-/usr/src/linux-source-6.12.tar.xz}
[ -e "$SRC" ] || die "base tree '$SRC' not found: install linux-source-6.12 (scripts/deps.sh; it is in bookworm-security) or set LINUX_SRC=<6.12.y tree or tarball>"
base_id=$(stat -c '%n %s %Y' "$(readlink -f "$SRC")")
series=$(find "$TOP/series" -maxdepth 1 -name '[0-9][0-9][0-9][0-9]-*.patch' ! -name '0000-*' | sort)
base_key=$(cat <(echo "$base_id") "$TOP/prune/rules" "$TOP/scripts/prune.py" | sha1sum | cut -c1-16)
series_key=$(cat /dev/null $series | sha1sum | cut -c1-16)

stamp_get() { sed -n "s/^$1=//p" "$STAMP" 2>/dev/null; }

# tree_identity DIR: git commit and git am record a committer; a user who
# never ran 'git config --global' has none, so the tree gets its own then
tree_identity() {
	git -C "$1" var GIT_COMMITTER_IDENT >/dev/null 2>&1 && return 0
	git -C "$1" config user.name "iommufd-dirty harness"
	git -C "$1" config user.email harness@localhost
}

# --- protect unexported work -----------------------------------------------
if [ -d "$TREE/.git" ] && [ -f "$STAMP" ]; then
	head=$(git -C "$TREE" rev-parse HEAD)
	dirty=$(git -C "$TREE" status --porcelain --untracked-files=no | head -n1)
	if [ "$head" != "$(stamp_get head)" ] || [ -n "$dirty" ]; then
		if [ "$FORCE" = 1 ]; then
			log "--force: discarding unexported work in $TREE"
		elif [ "$base_key" = "$(stamp_get base)" ] && [ "$series_key" = "$(stamp_get series)" ]; then
			log "build/linux has work not exported to series/ (make export): testing it as is"
			exit 0
		else
			die "build/linux has commits or edits not exported to series/ and series/ or the base changed: run 'make export' to keep them, or 'make assemble FORCE=1' to discard them"
		fi
	elif [ "$base_key" = "$(stamp_get base)" ] && [ "$series_key" = "$(stamp_get series)" ]; then
		log "up to date: $(stamp_get version) + $(echo $series | wc -w) patches"
		exit 0
	fi
fi

# --- base: extract, prune, audit, commit -----------------------------------
if [ ! -d "$TREE/.git" ] || [ "$base_key" != "$(stamp_get base)" ]; then
	new=$BUILD/linux.new
	rm -rf "$new" && mkdir -p "$new"
	log "extracting $SRC"
	if [ -d "$SRC" ]; then
		rsync -a --exclude=.git "$SRC/" "$new/"
	else
		tar -xf "$SRC" -C "$new" --strip-components=1
	fi
	ver=$(base_version "$new")
	case "$ver" in
	6.12.*) ;;
	*) die "base is Linux $ver, this series targets 6.12.y: install linux-source-6.12 or point LINUX_SRC at a 6.12.y tree" ;;
	esac
	log "base: Linux $ver; pruning upstream dirty tracking"
	python3 "$TOP/scripts/prune.py" --tree "$new" --rules "$TOP/prune/rules" >"$LOGS/prune.log" 2>&1 ||
		{ tail -n 3 "$LOGS/prune.log" >&2; rm -rf "$new"; die "prune failed on Linux $ver (the base drifted from prune/rules): see $LOGS/prune.log"; }
	tail -n 1 "$LOGS/prune.log" >&2
	"$TOP/scripts/prune-audit.sh" "$new" >>"$LOGS/prune.log" 2>&1 ||
		{ tail -n 5 "$LOGS/prune.log" >&2; rm -rf "$new"; die "prune audit failed on Linux $ver: see $LOGS/prune.log"; }
	# Debian's source package ends .gitignore with "/*" (ignore everything at
	# the top level); drop that block so git sees the tree.
	if grep -qx '/\*' "$new/.gitignore"; then
		awk '/^# Debian packaging/ { exit } { print }' "$new/.gitignore" |
			sed -e '$ { /^#$/d }' >"$new/.gitignore.tmp"
		mv "$new/.gitignore.tmp" "$new/.gitignore"
		log "dropped Debian's ignore-everything block from .gitignore"
	fi
	log "committing pruned base"
	git -C "$new" init -q -b main
	tree_identity "$new"
	git -C "$new" add -A
	git -C "$new" commit -q \
		-m "Linux $ver, upstream IOMMU dirty tracking pruned" \
		-m "Base for the series: $(basename "$SRC"), pruned by scripts/prune.py with prune/rules."
	git -C "$new" tag -f base >/dev/null
	# the audit above covered this base: scripts/test.sh reports it from here
	mkdir -p "$AUDIT_CACHE"
	tail -n 1 "$LOGS/prune.log" >"$AUDIT_CACHE/$(audit_key "$new")"
	rm -rf "$TREE" && mv "$new" "$TREE"
	printf 'version=%s\nbase=%s\n' "$ver" "$base_key" >"$STAMP"
fi
ver=$(stamp_get version)

# --- series ------------------------------------------------------------------
git -C "$TREE" reset -q --hard base
tree_identity "$TREE"
n=0
for p in $series; do
	if ! git -C "$TREE" am -q --keep-cr "$p" >"$LOGS/am.log" 2>&1; then
		git -C "$TREE" am --abort >/dev/null 2>&1 || true
		git -C "$TREE" reset -q --hard base
		sed -i '/^series=/d;/^head=/d' "$STAMP"
		if grep -q -E 'patch failed|does not apply' "$LOGS/am.log"; then
			die "series patch $(basename "$p") does not apply to pruned Linux $ver ($(grep -m1 -E 'error|patch failed' "$LOGS/am.log")): rebase the series onto this base"
		fi
		die "git am of series patch $(basename "$p") failed: $(grep -m1 -E 'fatal|error' "$LOGS/am.log" || tail -n1 "$LOGS/am.log") (full log: $LOGS/am.log)"
	fi
	n=$((n + 1))
done
cover=$TOP/series/0000-cover-letter.patch
[ ! -f "$cover" ] || git -C "$TREE" config branch.main.description "$(cover_description "$cover")"
sed -i '/^series=/d;/^head=/d' "$STAMP"
printf 'series=%s\nhead=%s\n' "$series_key" "$(git -C "$TREE" rev-parse HEAD)" >>"$STAMP"
log "assembled Linux $ver + $n patches in $(elapsed "$t0")s"
