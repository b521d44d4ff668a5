#!/bin/sh
# deps.sh - what this course needs from the system, and how to get it.
#   deps.sh ensure [tool...]  exit 0 if the build needs (and the named extra
#                             tools) are there; otherwise install them when
#                             we are root on Debian/Ubuntu, or say exactly
#                             what to run and exit 1.
#   deps.sh install           install everything the course uses.
#   deps.sh missing [tool...] print the Debian packages that are missing.
# Tools: cc pkg-config libcjson cmocka timeout valgrind promtool prometheus curl gdb
#        prometheus-alertmanager gnuplot python3 (the demo's alerts and charts)
set -u

package_of() {
	case "$1" in
	cc) echo gcc ;;
	pkg-config) echo pkg-config ;;
	libcjson) echo libcjson-dev ;;
	cmocka) echo libcmocka-dev ;;
	timeout) echo coreutils ;;
	valgrind) echo valgrind ;;
	promtool | prometheus) echo prometheus ;;
	curl) echo curl ;;
	prometheus-alertmanager) echo prometheus-alertmanager ;;
	gnuplot) echo gnuplot-nox ;;
	python3) echo python3 ;;
	gdb) echo gdb ;;
	esac
}

brew_of() {
	case "$1" in
	libcjson) echo cjson ;;
	promtool | prometheus) echo prometheus ;;
	prometheus-alertmanager) echo alertmanager ;;
	cc) echo gcc ;;
	timeout) echo coreutils ;;
	*) echo "$1" ;;
	esac
}

present() {
	case "$1" in
	libcjson | cmocka) command -v pkg-config >/dev/null 2>&1 && pkg-config --exists "$1" ;;
	cc) command -v "${CC:-cc}" >/dev/null 2>&1 ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

BUILD_TOOLS="cc pkg-config libcjson cmocka timeout"
ALL_TOOLS="$BUILD_TOOLS valgrind promtool curl gdb prometheus-alertmanager gnuplot python3"

missing_tools() {
	for t in "$@"; do present "$t" || printf '%s ' "$t"; done
}

packages_for() {
	for t in "$@"; do package_of "$t"; done | sort -u | tr '\n' ' '
}

install_packages() {
	pkgs=$1
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "installing: $pkgs"
		# The packages' own services (prometheus, node exporter) are not
		# wanted: the demo starts its own Prometheus with its own config.
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends $pkgs >/dev/null ||
			{ echo "apt-get install failed: run 'apt-get install $pkgs' to see why" >&2; return 1; }
		return 0
	fi
	echo "missing: $pkgs" >&2
	if command -v apt-get >/dev/null 2>&1; then
		echo "install them with:  sudo apt-get install $pkgs" >&2
	elif command -v brew >/dev/null 2>&1; then
		echo "install them with:  brew install $(for t in $2; do brew_of "$t"; done | tr '\n' ' ')" >&2
	else
		echo "install the packages that provide: $2" >&2
	fi
	return 1
}

cmd=${1:-ensure}
[ $# -gt 0 ] && shift
case "$cmd" in
ensure)
	miss=$(missing_tools $BUILD_TOOLS "$@")
	[ -z "$miss" ] && exit 0
	install_packages "$(packages_for $miss)" "$miss" || exit 1
	miss=$(missing_tools $BUILD_TOOLS "$@")
	[ -z "$miss" ] || { echo "still missing after install: $miss" >&2; exit 1; }
	;;
install)
	miss=$(missing_tools $ALL_TOOLS "$@")
	[ -z "$miss" ] && { echo "everything is installed"; exit 0; }
	install_packages "$(packages_for $miss)" "$miss"
	;;
missing)
	[ $# -gt 0 ] || set -- $ALL_TOOLS
	packages_for $(missing_tools "$@")
	echo
	;;
*)
	echo "usage: deps.sh ensure|install|missing [tool...]" >&2
	exit 2
	;;
esac
