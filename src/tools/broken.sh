#!/bin/sh
# broken.sh - the known-broken channels. Each lessons/NN-name/broken/BUG.patch
# is a small patch over the reference solution that reintroduces a classic
# mistake; its first line says which run catches it ("caught by: plain",
# "caught by: thread" or "caught by: address"). This builds one and grades it, so you can watch the
# grader (or ThreadSanitizer) report it.
#   LESSON=01 BUG=name   build and grade that broken channel
#   (no BUG)             list the broken channels
#   check                every broken channel must be caught (make check)
set -u
MAKE=${MAKE:-make}

patches() { ls lessons/*/broken/*.patch 2>/dev/null; }

apply() { # patch -> prints the IMPL directory holding the broken copy
	p=$1
	bug=$(basename "$p" .patch)
	dir="build/broken/$bug"
	rm -rf "$dir" && mkdir -p "$dir" && cp -R solutions/. "$dir/"
	patch -s -p2 -d "$dir" <"$p" >&2 || { echo "the patch $p does not apply to the solutions" >&2; return 1; }
	echo "$dir"
}

lesson_of() { basename "$(dirname "$(dirname "$1")")"; }

if [ "${1:-}" = check ]; then
	status=0
	for p in $(patches); do
		want=$(sed -n '1s/^caught by: *//p' "$p")
		dir=$(apply "$p") || { status=1; continue; }
		l=$(lesson_of "$p")
		san="" perturb=""
		case "$want" in thread | address) san=$want ;; esac
		# A race that needs an unlucky order: enough perturbed rounds that
		# missing it would be a defect of the perturbation.
		[ "$want" = perturb ] && perturb=8
		if GRADE_QUIET=1 IMPL="$dir" SANITIZE="$san" PERTURB="$perturb" LESSONS="$l" MAKE="$MAKE" \
			sh src/tools/grade.sh >"$dir.log" 2>&1; then
			echo "  NOT CAUGHT  $(basename "$p" .patch) ($l, ${want:-plain} run): every test passed"
			status=1
		else
			echo "  caught      $(basename "$p" .patch) ($l, ${want:-plain} run): $(grep -o '[0-9]*/[0-9]* passed.*\|FAILED with seed.*' "$dir.log" | head -n 1)"
		fi
	done
	exit $status
fi

if [ -z "${BUG:-}" ]; then
	echo "Known-broken versions of the reference (make broken LESSON=NN BUG=name):"
	found=0
	for p in $(patches); do
		l=$(lesson_of "$p")
		case "$l" in "${LESSON:-}"*) ;; *) continue ;; esac
		printf '  %-12s %-28s %s\n' "$l" "$(basename "$p" .patch)" "$(sed -n '2s/^# *//p' "$p")"
		found=1
	done
	[ $found = 1 ] || echo "  none for lesson ${LESSON:-?} yet: its section 7 describes the mistakes and the tests that catch them"
	exit 0
fi
p=$(ls lessons/"${LESSON:-}"*/broken/"$BUG".patch 2>/dev/null | head -n 1)
[ -n "$p" ] || { echo "no broken version named $BUG (make broken lists them)"; exit 2; }
sed -n '1,/^---/p' "$p" | sed '$d'
dir=$(apply "$p") || exit 1
want=$(sed -n '1s/^caught by: *//p' "$p")
san=${SANITIZE:-}
if [ -z "$san" ]; then case "$want" in thread | address) san=$want ;; esac; fi
echo "Grading $BUG${san:+ (SANITIZE=$san)}:"
IMPL="$dir" SANITIZE="$san" LESSONS="$(lesson_of "$p")" MAKE="$MAKE" sh src/tools/grade.sh
