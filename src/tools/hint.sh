#!/bin/sh
# hint.sh LESSON [N] - shows a lesson's hints one at a time. Hints live
# beside the lesson, in lessons/NN-name/HINTS.md (not in exercises/, where
# a look at one's own files would show them all), as "## Hint k" sections;
# each names the lesson section it comes from. Without N it shows the next
# hint you have not seen yet (remembered in build/hints/).
set -u
lesson=${1:-}
n=${2:-}
[ -n "$lesson" ] || { echo "usage: make hint LESSON=NN [N=k]"; exit 2; }
dir=$(ls -d lessons/"$lesson"*/ 2>/dev/null | head -n 1)
file="${dir}HINTS.md"
[ -n "$dir" ] && [ -f "$file" ] || { echo "no hints for lesson $lesson (looked for lessons/$lesson*/HINTS.md)"; exit 2; }
count=$(grep -c '^## Hint ' "$file")
state="build/hints/$(basename "$dir")"
if [ -z "$n" ]; then
	seen=$(cat "$state" 2>/dev/null || echo 0)
	n=$((seen + 1))
	[ "$n" -le "$count" ] || n=$count
	mkdir -p build/hints && echo "$n" >"$state"
fi
[ "$n" -ge 1 ] && [ "$n" -le "$count" ] || { echo "lesson $lesson has hints 1 to $count"; exit 2; }
awk -v n="$n" '/^## Hint /{k++} k==n' "$file"
echo
if [ "$n" -lt "$count" ]; then
	echo "(hint $n of $count: 'make hint LESSON=$lesson' again for the next, N=k for a given one)"
else
	echo "(hint $n of $count: that was the last; the lesson text and the tests say the rest)"
fi
