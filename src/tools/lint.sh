#!/bin/sh
# lint.sh - every pointer into a lesson must lead somewhere. Checks that
# each lesson with code has its text, that each exercise has at least two
# hints (lessons/NN-name/HINTS.md, "## Hint k" sections) each naming a
# lesson section, that every "lessons/...README.md#anchor" written in
# hints, stubs, solutions and tests names a heading that exists, that
# every function the text names exists, that every mutant a text names
# exists, that the mutant catalogue backs every test a lesson names as
# catching a mistake, that each Predict links to its answer, and that each
# answer opens with its question and a line telling the reader to stop.
set -u
status=0

anchors() { # file.md [level] -> its GitHub-style heading anchors, one per line
	# (level: "##" for those of the "## " headings only; all by default)
	awk -v level="${2:-#+}" '/^```/ { code = !code } !code && $0 ~ "^" level " " {
		h = $0; sub(/^#+ /, "", h); h = tolower(h)
		gsub(/[^a-z0-9 _-]/, "", h); gsub(/ /, "-", h); print h }' "$1"
}

for dir in solutions/*/; do
	l=$(basename "$dir")
	[ -f "lessons/$l/README.md" ] || { echo "lessons/$l/README.md is missing"; status=1; }
	hints="lessons/$l/HINTS.md"
	if [ ! -f "$hints" ]; then
		echo "$hints is missing"
		status=1
		continue
	fi
	n=$(grep -c '^## Hint ' "$hints")
	[ "$n" -ge 2 ] || { echo "$hints has $n hint(s); give at least two"; status=1; }
	bare=$(awk '/^## Hint /{ if (k && !ref) print k; k = $3; ref = 0; next } /lessons\/[0-9][0-9]-[a-z0-9-]*\/README\.md#/{ ref = 1 } END { if (k && !ref) print k }' "$hints")
	[ -z "$bare" ] && continue
	echo "$hints: hint(s) $bare name no lesson section (lessons/NN-name/README.md#section)"
	status=1
done

# The Predict checkpoints (docs/instructors.md). Every lesson has a
# lessons/NN-name/PREDICTIONS.md; the lesson asks at least two, each a
# paragraph starting "**Predict.**" and ending with a link to its own
# section of PREDICTIONS.md, which has one "## " section per Predict, in
# the lesson's order. The answers are there, not folded away in the lesson.
for r in lessons/[0-9][0-9]-*/README.md; do
	p=$(dirname "$r")/PREDICTIONS.md
	[ -f "$p" ] || { echo "$p is missing: the answers to the lesson's Predict checkpoints go there"; status=1; continue; }
	r=$(dirname "$p")/README.md
	# Each Predict paragraph's link, in order; "-" for a paragraph with none.
	links=$(awk '/^```/ { code = !code; next } code { next }
		/^\*\*Predict\.\*\*/ { on = 1; link = "-" }
		on && match($0, /\(PREDICTIONS\.md#[a-z0-9_-]+\)/) { link = substr($0, RSTART + 16, RLENGTH - 17) }
		on && /^$/ { print link; on = 0 }
		END { if (on) print link }' "$r")
	sections=$(anchors "$p" "##")
	n=$(printf '%s\n' "$links" | grep -c .)
	m=$(printf '%s\n' "$sections" | grep -c .)
	[ "$n" -ge 2 ] || { echo "$r has $n **Predict.** paragraph(s); ask at least two"; status=1; }
	[ "$m" -eq "$n" ] || { echo "$p has $m section(s) (## ) for the $n **Predict.** paragraph(s) of $r: one each"; status=1; }
	bad=$(printf '%s\n' "$links" | awk -v sections="$sections" -v r="$r" -v p="$p" '
		BEGIN { m = split(sections, s, "\n") }
		$0 == "-" { print r ": Predict " NR " links to no section of PREDICTIONS.md ((PREDICTIONS.md#anchor) at its end)"; next }
		NR > m || $0 != s[NR] { print r ": Predict " NR " links to " p "#" $0 ", but section " NR " there is " (NR > m ? "missing" : "#" s[NR]) }')
	[ -z "$bad" ] || { echo "$bad"; status=1; }
	grep -q '<details>' "$r" && { echo "$r folds text away in <details>: a Predict's answer goes in $p"; status=1; }
	# Each answer opens with its question, restated as a quote that ends in
	# "**Stop here**": a reader who prints one section and runs on into the
	# next sees a question and a stop sign before any answer.
	unguarded=$(awk '/^```/ { code = !code } code { next }
		/^## / { k++; want = "> **Predict " k " asked:**"; state = 1; next }
		state == 1 && /^$/ { next }
		state == 1 { if (index($0, want) != 1) { print k; state = 0; next } state = 2; next }
		state == 2 && /^> \*\*Stop here\*\*/ { state = 0; next }
		state == 2 && !/^>/ { print k; state = 0 }' "$p")
	[ -z "$unguarded" ] || { echo "$p: section(s) $(echo $unguarded) do not open with \"> **Predict N asked:**\" (the question) and a \"> **Stop here**\" line before the answer"; status=1; }
done

# Every pointer of the form lessons/NN-name/README.md#anchor, or
# L01 "#anchor" in the tests (where L01 names the lesson's README).
refs=$(grep -rhoE 'lessons/[0-9]{2}-[a-z0-9-]+/README\.md#[a-z0-9_-]+' exercises solutions tests src lessons docs README.md 2>/dev/null | sort -u)
for t in tests/[0-9][0-9]-*/*.c; do
	[ -f "$t" ] || continue
	base=$(sed -n 's/^#define L[0-9][0-9] "\(lessons\/[^"]*\)"$/\1/p' "$t" | head -n 1)
	[ -n "$base" ] || continue
	for a in $(grep -oE 'L[0-9]{2} "#[a-z0-9_-]+"' "$t" | sed 's/.*"#\(.*\)"/\1/' | sort -u); do
		refs="$refs
$base#$a"
	done
done
for r in $(printf '%s\n' "$refs" | sort -u); do
	file=${r%%#*}
	anchor=${r#*#}
	if [ ! -f "$file" ]; then
		echo "points at $file, which does not exist ($r)"
		status=1
	elif ! anchors "$file" | grep -qx "$anchor"; then
		echo "points at $r, but $file has no such heading"
		status=1
	fi
done
# Every function the text names exists where the learner can find it.
# The project's prefixes are those of the functions in the contracts
# (src/*.h) and in the solutions (chan_, sim_, ring_...); an identifier with
# one of them, in inline code of a lesson or a hint (or called in one of
# their code blocks), must be a word of src/, exercises/ or tests/ (what
# the learner has), or be introduced in that file as "`name` is yours to
# write" (a helper the learner writes; the solution has one). Inline code
# holding a "/" is a path (/proc/sys/...), not a name, and is skipped.
prefixes=$({
	grep -ohE '\b[a-z][a-z0-9]*_[a-z0-9_]+\(' src/*.h
	grep -ohE '^(EXERCISE_HELPER )?(static )?[a-z][^=(;]*\b[a-z][a-z0-9]*_[a-z0-9_]*[([]' \
		$(find solutions -name '*.c') | grep -oE '[a-z][a-z0-9]*_[a-z0-9_]*[([]$'
} | sed 's/_.*//' | sort -u | paste -sd '|' -)
known=$(mktemp)
find src exercises tests -name '*.[ch]' -exec grep -ohE '\b[a-z_][a-z0-9_]*\b' {} + | sort -u >"$known"
unknown=$(for f in lessons/*/README.md lessons/*/PREDICTIONS.md lessons/*/HINTS.md; do
	awk '/^```/ { code = !code; next }
		!code { while (match($0, /`[^`]+`/)) { span = substr($0, RSTART, RLENGTH); $0 = substr($0, RSTART + RLENGTH)
			if (span !~ /\//) print span } }
		code { while (match($0, /[a-z][a-z0-9_]*\(/)) { print substr($0, RSTART, RLENGTH); $0 = substr($0, RSTART + RLENGTH) } }' "$f" |
		grep -oE "\b($prefixes)_[a-z0-9_]+\b" | sort -u | sed "s|^|$f |"
done | awk 'NR == FNR { known[$1] = 1; next } !($2 in known)' "$known" -)
rm -f "$known"
bad=$(printf '%s\n' "$unknown" | while read -r f id; do
	[ -n "$id" ] || continue
	grep -qE "\`$id\` (is yours to write|\(yours to write)" "$f" ||
		echo "$f names \`$id\`, which no file of src/, exercises/ or tests/ has (say it is yours to write, or fix the name)"
done)
[ -z "$bad" ] || { echo "$bad"; status=1; }
# The classroom configuration grades every lesson, one test each.
for dir in solutions/*/; do
	nn=$(basename "$dir" | cut -c1-2)
	grep -q "\"run\": \"make test LESSON=$nn\"" .github/classroom/autograding.json ||
		{ echo ".github/classroom/autograding.json has no test running 'make test LESSON=$nn'"; status=1; }
done
# Every mutant a text names (BUG=name) exists.
# missing: reads a list, a line "--", then lines whose first word must be in
# the list; prints those that are not.
missing() { awk '$0 == "--" { sep = 1; next } !sep { have[$0] = 1; next } $0 != "" && !have[$1]'; }
bugs=$(ls lessons/*/broken/*.patch 2>/dev/null | sed 's|.*/||; s|\.patch$||')
named=$(grep -rhoE 'BUG=[a-z0-9-]+' lessons docs README.md 2>/dev/null | sed 's/^BUG=//' | grep -vx name | sort -u)
bad=$(printf '%s\n' "$bugs" -- "$named" | missing)
if [ -n "$bad" ]; then
	printf '%s\n' "$bad" | sed 's|.*|BUG=& is named, but there is no lessons/*/broken/&.patch|'
	status=1
fi
# The mutant catalogue (lessons/NN-name/broken/*.patch, make mutants): each
# header says how its mistake is caught and names tests that exist. A test
# named in a lesson's "What can go wrong" section is a claim that it
# catches a mistake: it must be the test of one of that lesson's mutants,
# or of a mutant the section names (`make broken LESSON=MM BUG=name`), so
# that make mutants checks the claim. A test the text names for another
# reason is described without its name.
declared=$(mktemp)
caught=$(mktemp)
for l in $(ls -d lessons/[0-9][0-9]-*/ 2>/dev/null | xargs -n 1 basename); do
	ls lessons/"$l"/broken/*.patch >/dev/null 2>&1 || continue
	# The tests a lesson's grade runs: its own.
	cat tests/"$l"/*.c 2>/dev/null | grep -o 'HTEST([a-z0-9_]*' | sed 's/HTEST(//' >"$declared"
	# Each header: its first line, and tests that the lesson's grade runs.
	awk -v lesson="$l" '
		NR == FNR { declared[$1] = 1; next }
		FNR == 1 { body = 0; if ($0 !~ /^caught by: (plain|thread|address|perturb)$/)
			print FILENAME ": the first line must be \"caught by: plain|thread|address|perturb\"" }
		/^--- / { if (!body && !named[FILENAME]) print FILENAME ": no \"# test:\" line names the test that catches it"
			body = 1 }
		!body && /^# test:/ { sub(/^# test: */, ""); n = split($0, t, /[, ]+/)
			for (i = 1; i <= n; i++) if (t[i] != "") { named[FILENAME] = 1
				if (!(t[i] in declared)) print FILENAME ": names " t[i] ", which lesson " lesson "\047s grade does not run" } }
	' "$declared" lessons/"$l"/broken/*.patch | grep . && status=1
	section=$(awk '/^## / { on = /^## [0-9]+\. What can go wrong/ } on' "lessons/$l/README.md")
	{
		cat lessons/"$l"/broken/*.patch
		printf '%s\n' "$section" | grep -o 'LESSON=[0-9]* BUG=[a-z0-9-]*' | while read -r ln bug; do
			cat lessons/"${ln#LESSON=}"-*/broken/"${bug#BUG=}".patch 2>/dev/null
		done
	} | sed -n 's/^# test: *//p' | tr ', ' '\n\n' | grep . >"$caught"
	printf '%s\n' "$section" | grep -o 'test_[a-z0-9_]*' | sort -u | grep -vxF -f "$caught" |
		sed "s|.*|lessons/$l/README.md: \"What can go wrong\" names &, which no mutant's \"# test:\" line names|" |
		grep . && status=1
done
rm -f "$declared" "$caught"
exit $status
