# junit.awk - one test program's TAP (what grade.sh keeps) as a JUnit XML
# <testsuite>, for the test reports of CI systems and classroom services.
#   awk -v suite=01-channel -f src/tools/junit.awk build/results/.../01-channel.tap
# Each "ok" or "not ok" line is a <testcase>; a "not ok" has a <failure>
# whose type is the verdict (FAIL, NOTIMPL, HUNG, CRASH...), whose message
# is the verdict's first line, and whose text is every "  # " line under it.
# Text is escaped for XML; bytes XML cannot carry (control characters,
# invalid UTF-8) become "?", so any test output gives a well-formed file.
BEGIN {
	for (i = 1; i < 256; i++)
		ord[sprintf("%c", i)] = i
	n = 0
	failures = 0
}

# s with every byte that is not valid XML 1.0 in UTF-8 replaced by "?".
function clean(s,    out, i, c, b, k, need, ok) {
	if (s !~ /[\001-\010\013\014\016-\037\177-\377]/)
		return s
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		b = ord[c]
		if (b == 9 || b == 10 || b == 13 || (b >= 32 && b < 127)) {
			out = out c
			continue
		}
		need = b >= 194 && b <= 223 ? 1 : b >= 224 && b <= 239 ? 2 : b >= 240 && b <= 244 ? 3 : 0
		ok = need > 0
		for (k = 1; k <= need && ok; k++)
			ok = ord[substr(s, i + k, 1)] >= 128 && ord[substr(s, i + k, 1)] < 192
		if (ok) {
			out = out substr(s, i, need + 1)
			i += need
		} else
			out = out "?"
	}
	return out
}

function xml(s) {
	s = clean(s)
	gsub(/&/, "\\&amp;", s)
	gsub(/</, "\\&lt;", s)
	gsub(/>/, "\\&gt;", s)
	gsub(/"/, "\\&quot;", s)
	gsub(/'/, "\\&apos;", s)
	return s
}

# Ends the test case being read, if any.
function flush() {
	if (name == "")
		return
	cases = cases "    <testcase classname=\"logpipe." xml(suite) "\" name=\"" xml(name) "\""
	if (verdict == "")
		cases = cases "/>\n"
	else
		cases = cases ">\n      <failure type=\"" xml(verdict) "\" message=\"" xml(message) "\">" \
			xml(details) "</failure>\n    </testcase>\n"
	name = ""
}

/^(not )?ok / {
	flush()
	n++
	line = $0
	verdict = ""
	if (line ~ /^not ok/) {
		failures++
		verdict = "FAIL"
		if (match(line, / # [A-Z]+$/)) {
			verdict = substr(line, RSTART + 3)
			line = substr(line, 1, RSTART - 1)
		}
	}
	sub(/^(not )?ok [0-9]* *-? */, "", line)
	name = line
	message = ""
	details = ""
	next
}

/^  # / && name != "" {
	text = substr($0, 5)
	if (message == "")
		message = text
	details = details text "\n"
}

END {
	flush()
	printf "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	printf "<testsuite name=\"%s\" tests=\"%d\" failures=\"%d\" errors=\"0\">\n", xml(suite), n, failures
	printf "%s", cases
	printf "</testsuite>\n"
}
