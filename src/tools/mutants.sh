#!/bin/sh
# mutants.sh - the mutant catalogue: the classic mistakes of each lesson,
# each a small patch over the reference in lessons/NN-name/broken/BUG.patch,
# with a header saying how it is caught:
#
#     caught by: plain|thread|address|perturb
#     # the mistake, in the learner's words
#     # test: test_that_should_fail[, another_that_may_instead] (perturb: any test may)
#     # prints: a line the grade prints ("…": any text; optional, any number)
#     --- a/solutions/NN-name/file.c
#
# "caught by" is the build the lesson is graded with: plain, SANITIZE=thread
# or SANITIZE=address; perturb is the plain build with PERTURB rounds.
# A mutant is planted in a scratch copy of its lesson's directory
# (build/mutants/BUG), so only that lesson's files are compiled again.
#
#   check       plant every mutant (LESSON=NN: that lesson's), grade its lesson
#               and print a table; fails unless each is caught: the grade
#               fails, it compiles, a test it names fails, its "prints" lines
#               are printed (make mutants)
#   list        the catalogue (make broken)
#   show BUG    plant BUG and grade it in full for the learner to read (make broken BUG=...)
# Environment: LESSON or LESSONS (directory names), MAKE, SANITIZE (show), MUTANT_JOBS (check: how many
# at once, 4), PERTURB (rounds for perturb mutants, 8), SEED.
set -u
MAKE=${MAKE:-make}
LESSON=${LESSON:-}
scratch=build/mutants

patches() { # the selected lessons' mutants: LESSONS (directory names) or LESSON=NN
	if [ -n "${LESSONS:-}" ]; then
		for l in $LESSONS; do ls lessons/"$l"/broken/*.patch 2>/dev/null; done
	else
		ls lessons/"$LESSON"*/broken/*.patch 2>/dev/null
	fi
}
bug_of() { basename "$1" .patch; }
lesson_of() { basename "$(dirname "$(dirname "$1")")"; }
header() { sed -n '1,/^--- /p' "$1" | sed '$d'; } # patch -> its header lines
caught_by() { sed -n '1s/^caught by: *//p' "$1"; }
describe() { header "$1" | sed -n '2s/^# *//p'; }
tests_of() { header "$1" | sed -n 's/^# test: *//p' | tr ',' ' '; }
prints_of() { header "$1" | sed -n 's/^# prints: \{0,1\}//p'; }
variant_of() { # caught-by -> the SANITIZE value it is graded with
	case "$1" in thread | address) echo "$1" ;; *) echo "" ;; esac
}
# Perturb mutants count as caught only once the grader has a perturbation
# mode (the grader or the harness honours PERTURB); until then they run as
# plain, and a miss is reported, not failed.
perturb_ready() { grep -qs 'PERTURB' src/tools/grade.sh tests/harness/*.c; }
perturb_of() { # patch -> the PERTURB rounds to grade it with (none unless perturb)
	[ "$(caught_by "$1")" = perturb ] && echo "${PERTURB:-8}"
}

# Plants a mutant: a copy of its lesson's reference, patched. A file that
# comes out as the last planting left it is kept, timestamp and all, so
# that only what changed since is compiled again.
plant() { # patch -> prints the IMPL directory holding the mutated lesson
	l=$(lesson_of "$1")
	dir="$scratch/$(bug_of "$1")"
	rm -rf "$dir.new" && mkdir -p "$dir.new" && cp -Rp "solutions/$l" "$dir.new/"
	patch -s -p2 -d "$dir.new" <"$1" >&2 || { echo "the patch $1 does not apply to solutions/$l" >&2; return 1; }
	if [ -d "$dir/$l" ]; then
		(cd "$dir.new" && find . -type f) | while read -r f; do
			cmp -s "$dir.new/$f" "$dir/$f" && cp -p "$dir/$f" "$dir.new/$f"
		done
	fi
	rm -rf "$dir" && mv "$dir.new" "$dir"
	seed_objects "$l" "$dir"
	echo "$dir"
}

# A file the mutant leaves as the reference has it compiles to the
# reference's object (objects depend on the flags and the source only), so
# each build's object of it, and its dependency list, are copied instead
# of compiled again: a mutant of a lesson of several files compiles one.
seed_objects() { # lesson dir
	for src in "$2/$1"/*.c; do
		f=$(basename "$src" .c)
		cmp -s "$src" "solutions/$1/$f.c" || continue
		for ref in build/*/obj/solutions/"$1/$f.o"; do
			[ -f "$ref" ] || continue
			b=${ref%%/obj/*}
			to="$b/obj/$2/$1"
			[ -f "$to/$f.o" ] && continue
			mkdir -p "$to" && cp -p "$ref" "$to/$f.o" || continue
			[ -f "${ref%.o}.d" ] && sed -e "s#$b/obj/solutions/$1/#$to/#g" -e "s# solutions/$1/# $2/$1/#g" \
				"${ref%.o}.d" >"$to/$f.d" && touch -r "$ref" "$to/$f.d"
		done
	done
}

grade() { # patch dir san [test] -> grade.sh's output in $dir.log (that test's alone, if given)
	rm -rf "build/results/${3:-plain}/$(printf '%s' "$2" | tr / _)"
	# The declared build alone: no follow-up runs, but the perturbed rounds
	# of a perturb mutant; and no thread report for a hung test (only
	# verdicts matter here).
	GRADE_FOLLOWUPS=0 HARNESS_HUNG_REPORT=0 GRADE_ONLY=${4:-} PERTURB=$(perturb_of "$1") IMPL="$2" \
		SANITIZE="$3" LESSONS="$(lesson_of "$1")" MAKE="$MAKE" sh src/tools/grade.sh >"$2.log" 2>&1
}

# How a mutant is graded: the named test alone first, which is enough to
# see it caught (a grade with a failing test fails) and is much faster than
# the lesson's whole grade; the whole grade when it is not caught (to tell
# a wrong test from no failure at all), when its header says what the
# grade prints, and for perturb mutants (the perturbation mode is the
# grader's).
grade_mutant() { # patch dir san
	if [ "$(caught_by "$1")" != perturb ] && [ -z "$(prints_of "$1")" ]; then
		first=$(tests_of "$1" | awk '{print $1}')
		grade "$1" "$2" "$3" "$first" ||
			! grep -qs "^not ok [0-9]* - $first # " "build/results/${3:-plain}/$(printf '%s' "$2" | tr / _)"/*.tap ||
			return 1
	fi
	grade "$1" "$2" "$3"
}

# Whether the file has the line, where "…" in the line stands for any text
# that changes from run to run (a pid, an address, which thread).
printed() { # line file
	awk -v want="$1" '
		function matches(s, n, i, k) {
			if (n == 1)
				return s == part[1]
			if (index(s, part[1]) != 1)
				return 0
			s = substr(s, length(part[1]) + 1)
			for (i = 2; i < n; i++) {
				if (!(k = index(s, part[i])))
					return 0
				s = substr(s, k + length(part[i]))
			}
			return length(s) >= length(part[n]) && substr(s, length(s) - length(part[n]) + 1) == part[n]
		}
		BEGIN { n = split(want, part, "…") }
		matches($0, n) { found = 1; exit }
		END { exit !found }
	' "$2"
}

# The verdict on one planted mutant: one table row in $dir.row, and the
# reason for a miss in $dir.why. The row's first word is the verdict.
judge() { # patch
	p=$1
	want=$(caught_by "$p")
	san=$(variant_of "$want")
	t0=$(date +%s)
	rm -f "$scratch/$(bug_of "$p").row" "$scratch/$(bug_of "$p").why"
	dir=$(plant "$p") || {
		printf 'NOT-PLANTED %s %s %s - 0\n' "$(bug_of "$p")" "$(lesson_of "$p")" "${want:-plain}" >"$scratch/$(bug_of "$p").row"
		echo "the patch does not apply" >"$scratch/$(bug_of "$p").why"
		return
	}
	grade_mutant "$p" "$dir" "$san"
	rc=$?
	secs=$(($(date +%s) - t0))
	tap="build/results/${san:-plain}/$(printf '%s' "$dir" | tr / _)"
	failing=$(cat "$tap"/*.tap "$tap"/perturbed/*.tap 2>/dev/null | sed -n 's/^not ok [0-9]* - \([a-z0-9_]*\) # \([A-Z]*\)$/\1 \2/p')
	# A test the header names must fail: the first, or one listed after it
	# (a mutant whose window a loaded machine can close for one test is
	# caught by another). A perturb mutant is caught by whichever test meets
	# the order that breaks it (a lost wake-up hangs any test that waits in
	# select): the tests listed first, then any.
	first=$(tests_of "$p" | awk '{print $1}')
	kind=""
	candidates=$(tests_of "$p")
	[ "$want" = perturb ] && candidates="$candidates $(printf '%s\n' "$failing" | awk '{print $1}')"
	for t in $candidates; do
		kind=$(printf '%s\n' "$failing" | awk -v t="$t" '$1 == t {print $2; exit}')
		[ -n "$kind" ] && { first=$t; break; }
	done
	why=""
	if grep -q 'does not compile' "$dir.log"; then
		verdict="DOES-NOT-COMPILE" why="the mutant does not compile: $dir.log"
	elif [ $rc -eq 0 ]; then
		verdict="NOT-CAUGHT" why="every test passed"
		[ "$want" = perturb ] && ! perturb_ready && verdict="needs-perturb" why=""
	elif [ -z "$kind" ]; then
		verdict="WRONG-TEST" why="$first passed; failing: $(printf '%s\n' "$failing" | awk '{print $1}' | tr '\n' ' ')"
	else
		verdict="caught"
	fi
	# A race found by perturbation says with which seed (to replay it).
	[ "$verdict" = caught ] && [ "$want" = perturb ] && why=$(grep -o 'FAILED with seed.*' "$dir.log" | head -n 1)
	if [ "$verdict" = caught ]; then
		# Each "prints" line is a line of the grade's output (lessons quote them).
		prints_of "$p" | while IFS= read -r line; do
			printed "$line" "$dir.log" || echo "does not print: $line"
		done >"$dir.why"
		[ -s "$dir.why" ] && verdict="WRONG-OUTPUT" why=$(cat "$dir.why")
	fi
	by=${kind:+$first($kind)}
	printf '%s %s %s %s %s %s\n' "$verdict" "$(bug_of "$p")" "$(lesson_of "$p")" "${want:-plain}" \
		"${by:--}" "$secs" >"$scratch/$(bug_of "$p").row"
	printf '%s\n' "$why" >"$scratch/$(bug_of "$p").why"
}

# Builds what every mutant shares (tests, harness, the other lessons'
# reference code) once, so that the mutants running side by side compile
# only their own lesson and never the same object at once.
prebuild() {
	for p in $(patches); do echo "$(lesson_of "$p") $(variant_of "$(caught_by "$p")")"; done | sort -u |
		while read -r l san; do
			$MAKE -s --no-print-directory testbin LESSON="${l%%-*}" IMPL=solutions SANITIZE="$san" >/dev/null 2>&1
		done
}

check() {
	start=$(date +%s)
	mkdir -p "$scratch"
	prebuild
	# A pool of MUTANT_JOBS graders (4): most of a mutant's time is spent
	# waiting (hung tests wait out their deadlines, the tailer's tests
	# their poll intervals), so four share two cores well.
	# The slowest first (by the last run's seconds, unknown ones first), so
	# that no long one starts last while the others are done.
	for p in $(patches); do
		secs=$(awk '{print $6}' "$scratch/$(bug_of "$p").row" 2>/dev/null)
		echo "${secs:-999} $p"
	done | sort -rn | awk '{print $2}' |
		MAKE="$MAKE" xargs -r -n 1 -P "${MUTANT_JOBS:-4}" sh src/tools/mutants.sh judge
	status=0
	n=0
	printf '  %-34s %-8s %-8s %-14s %-62s %s\n' mutant lesson build verdict "caught by" seconds
	for p in $(patches); do
		n=$((n + 1))
		verdict=NOT-JUDGED bug=$(bug_of "$p") l=$(lesson_of "$p") build=$(caught_by "$p") test=- secs=""
		[ -f "$scratch/$bug.row" ] && read -r verdict bug l build test secs <"$scratch/$bug.row"
		case "$verdict" in
		caught) shown=caught ;;
		needs-perturb) shown="not caught (needs perturb)" test="(pending: PERTURB)" ;;
		*) shown=$(echo "$verdict" | tr - ' ') status=1 ;;
		esac
		printf '  %-34s %-8s %-8s %-14s %-62s %s\n' "$bug" "${l%%-*}" "$build" "$shown" "$test" "${secs:-?}"
		why=$(cat "$scratch/$bug.why" 2>/dev/null)
		[ -n "$why" ] && printf '%s\n' "$why" | sed 's/^/      /'
	done
	echo "$n mutants in $(($(date +%s) - start))s"
	return $status
}

list() {
	echo "Classic mistakes, each a patch over the reference (make broken LESSON=NN BUG=name grades one;"
	echo "the third column is the build that catches it):"
	found=0
	for p in $(patches); do
		printf '  %-12s %-34s %-8s %s\n' "$(lesson_of "$p")" "$(bug_of "$p")" "$(caught_by "$p")" "$(describe "$p")"
		found=1
	done
	[ $found = 1 ] || echo "  none for lesson $LESSON yet"
}

show() { # bug
	p=$(ls lessons/"$LESSON"*/broken/"$1".patch 2>/dev/null | head -n 1)
	[ -n "$p" ] || { echo "no broken version named $1 (make broken lists them)"; exit 2; }
	header "$p" | grep -v '^# prints:'
	dir=$(plant "$p") || exit 1
	san=${SANITIZE:-$(variant_of "$(caught_by "$p")")}
	echo "Grading $1${san:+ (SANITIZE=$san)}:"
	PERTURB=$(perturb_of "$p") IMPL="$dir" SANITIZE="$san" LESSONS="$(lesson_of "$p")" MAKE="$MAKE" sh src/tools/grade.sh
}

case "${1:-list}" in
check) check ;;
judge) judge "$2" ;;
list) list ;;
show) show "${2:-}" ;;
*) echo "usage: mutants.sh check|list|show BUG" >&2; exit 2 ;;
esac
