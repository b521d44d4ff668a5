#!/bin/sh
# lint.sh - every pointer into a lesson must lead somewhere. Checks that
# each lesson with code has its text, that each exercise has at least two
# hints (exercises/NN-name/HINTS.md, "## Hint k" sections) each naming a
# lesson section, that every "lessons/...README.md#anchor" written in
# hints, stubs, solutions and tests names a heading that exists, and that
# every function the text names exists.
set -u
status=0

anchors() { # README.md -> its GitHub-style heading anchors, one per line
	awk '/^```/ { code = !code } !code && /^#+ / {
		h = $0; sub(/^#+ /, "", h); h = tolower(h)
		gsub(/[^a-z0-9 _-]/, "", h); gsub(/ /, "-", h); print h }' "$1"
}

for dir in solutions/*/; do
	l=$(basename "$dir")
	[ -f "lessons/$l/README.md" ] || { echo "lessons/$l/README.md is missing"; status=1; }
	hints="exercises/$l/HINTS.md"
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
unknown=$(for f in lessons/*/README.md exercises/*/HINTS.md; do
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
exit $status
