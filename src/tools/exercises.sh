#!/bin/sh
# exercises.sh - the exercise stubs are generated from the solutions
# (src/tools/mkexercise.awk), so no code is kept twice: the C files, and
# the YAML of lesson 10's rules.
#   exercises.sh write       regenerate exercises/ (an exercise you edited is
#                            kept unless FORCE=1, committed or not)
#   exercises.sh gen DIR     write every stub under DIR (for make check)
#   exercises.sh verify DIR  generate under DIR and compare with the stubs
#                            committed in git (your edits do not count)
set -u
awk_gen() { awk -f src/tools/mkexercise.awk "$1"; }

solutions() { find solutions -name '*.c' -o -name '*.yml' | sort; }

# 1 if exercises/$1 is a stub nobody edited: what the generator wrote when
# the file was last committed (that commit's generator on that commit's
# solution). Your own commits of the file are not stubs, so they are kept.
untouched() { # rel
	c=$(git log -1 --format=%H -- "exercises/$1" 2>/dev/null)
	[ -n "$c" ] || return 1
	old_awk=$(mktemp)
	git show "$c:src/tools/mkexercise.awk" >"$old_awk" 2>/dev/null &&
		git show "$c:solutions/$1" 2>/dev/null | awk -f "$old_awk" | cmp -s - "exercises/$1"
	rc=$?
	rm -f "$old_awk"
	return $rc
}

case "${1:-}" in
write)
	for s in $(solutions); do
		e="exercises/${s#solutions/}"
		tmp=$(mktemp)
		awk_gen "$s" >"$tmp" || exit 1
		if [ -f "$e" ] && ! cmp -s "$tmp" "$e"; then
			if [ "${FORCE:-}" != 1 ] && ! untouched "${s#solutions/}"; then
				echo "kept $e: it is not a generated stub, so it has your changes (FORCE=1 overwrites it)"
				rm -f "$tmp"
				continue
			fi
		fi
		mkdir -p "$(dirname "$e")"
		if cmp -s "$tmp" "$e" 2>/dev/null; then rm -f "$tmp"; else mv "$tmp" "$e" && echo "wrote $e"; fi
	done
	;;
gen)
	dir=$2
	rm -rf "$dir" # a stub whose solution is gone must not linger
	for s in $(solutions); do
		e="$dir/${s#solutions/}"
		mkdir -p "$(dirname "$e")"
		awk_gen "$s" >"$e" || exit 1
	done
	;;
verify)
	dir=$2
	sh "$0" gen "$dir" || exit 1
	bad=0
	for s in $(solutions); do
		rel=${s#solutions/}
		if git cat-file -e "HEAD:exercises/$rel" 2>/dev/null; then
			git show "HEAD:exercises/$rel" >"$dir/.committed" 2>/dev/null
		else
			cp "exercises/$rel" "$dir/.committed" 2>/dev/null || : >"$dir/.committed"
		fi
		if ! cmp -s "$dir/$rel" "$dir/.committed"; then
			echo "exercises/$rel is not the stub generated from $s: run 'make exercises' and commit it"
			bad=1
		fi
		grep -q 'TODO' "$dir/$rel" || { echo "exercises/$rel has no TODO for the learner"; bad=1; }
	done
	for e in $(find exercises -name '*.c' -o -name '*.yml' | sort); do
		[ -f "solutions/${e#exercises/}" ] || { echo "$e has no solution beside it"; bad=1; }
	done
	rm -f "$dir/.committed"
	exit $bad
	;;
*)
	echo "usage: exercises.sh write | gen DIR | verify DIR" >&2
	exit 2
	;;
esac
