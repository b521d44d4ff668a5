#!/bin/sh
# snippets.sh - keeps the code quoted in lessons identical to the code that
# compiles. In a lesson, a quote is an HTML comment followed by a fenced block:
#
#     <!-- snippet: src/channel.h struct-chan -->
#     ```c
#     ...
#     ```
#
# and in the source the quoted lines sit between two marker comments:
#     /* snippet: struct-chan */  ...  /* end snippet */
# (or `# snippet:` / `# end snippet` in shell and make files). Without a
# name, the whole file is quoted. A mutant's patch (lessons/NN/broken/BUG.patch)
# quoted as "prints" gives `$ make broken LESSON=NN BUG=BUG` and the lines its
# header says the grade prints (make mutants checks them against a run).
#   snippets.sh verify   fail if any quote differs from its source
#   snippets.sh update   rewrite the quotes from the sources
set -u
mode=${1:-verify}

extract() { # file [name]
	case "$1" in
	lessons/*/broken/*.patch)
		# A mutant's "prints" lines: what make broken prints for it, which
		# make mutants checks against a real run.
		[ "${2:-}" = prints ] || return 3
		l=$(basename "$(dirname "$(dirname "$1")")")
		echo "\$ make broken LESSON=${l%%-*} BUG=$(basename "$1" .patch)"
		sed -n '1,/^--- /s/^# prints: \{0,1\}//p' "$1"
		return
		;;
	esac
	if [ -z "${2:-}" ]; then
		cat "$1"
		return
	fi
	awk -v name="$2" '
		$0 ~ "snippet: " name "( |\\*/|$)" && $0 !~ /end snippet/ { on = 1; found = 1; next }
		on && /end snippet/ { on = 0; next }
		on { print }
		END { if (!found) exit 3 }
	' "$1"
}

status=0
for lesson in lessons/*/README.md lessons/*/PREDICTIONS.md lessons/*.md docs/*.md README.md; do
	[ -f "$lesson" ] || continue
	grep -q '<!-- snippet: ' "$lesson" || continue
	tmp=$(mktemp)
	# Split the lesson into quotes and the rest, replacing each quote's
	# block with the source's current text.
	# A marker inside a fenced block is an example, not a quote.
	awk '
		!skip && !fenced && /^<!-- snippet: .* -->$/ { print; spec = $0
			sub(/^<!-- snippet: /, "", spec); sub(/ -->$/, "", spec)
			getline fence; print fence; print "@@SNIPPET " spec; skip = 1; next }
		skip && /^```[ \t]*$/ { skip = 0; print; next }
		skip { next }
		/^```/ { fenced = !fenced }
		{ print }
	' "$lesson" >"$tmp.skel"
	: >"$tmp"
	while IFS= read -r line; do
		case "$line" in
		"@@SNIPPET "*)
			spec=${line#@@SNIPPET }
			file=${spec%% *}
			name=""
			[ "$file" != "$spec" ] && name=${spec#* }
			if [ ! -f "$file" ]; then
				echo "$lesson: quotes $file, which does not exist"
				status=1
				continue
			fi
			if ! extract "$file" "$name" >>"$tmp"; then
				echo "$lesson: quotes snippet '$name' of $file, which has no such marker"
				status=1
			fi
			;;
		*) printf '%s\n' "$line" >>"$tmp" ;;
		esac
	done <"$tmp.skel"
	if ! cmp -s "$tmp" "$lesson"; then
		if [ "$mode" = update ]; then
			cp "$tmp" "$lesson" && echo "updated quotes in $lesson"
		else
			echo "$lesson: a quoted snippet no longer matches its source ('make snippets' rewrites it):"
			diff "$lesson" "$tmp" | head -n 20
			status=1
		fi
	fi
	rm -f "$tmp" "$tmp.skel"
done
exit $status
