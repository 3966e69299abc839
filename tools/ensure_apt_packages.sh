#!/usr/bin/env bash
# Usage: tools/ensure_apt_packages.sh PROGRAM=PACKAGE ...
# Installs Debian/Ubuntu packages whose program is missing, e.g.
#   tools/ensure_apt_packages.sh /usr/bin/chromium=chromium bwrap=bubblewrap
# Idempotent and quick when everything is there. Always exits 0: when it cannot install,
# the feature that needs the program says so (the grading sandbox warns; the browser
# test fails with the install command).
set -u
missing=()
for pair in "$@"; do
    program=${pair%%=*}
    package=${pair#*=}
    if command -v "$program" >/dev/null 2>&1 || [ -x "$program" ]; then
        echo "ensure_apt_packages: $program present"
    else
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_apt_packages: cannot install ${missing[*]} here (needs root and apt-get); run: sudo apt-get install ${missing[*]}"
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
if { apt-get update -qq && apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
    echo "ensure_apt_packages: installed ${missing[*]}"
else
    echo "ensure_apt_packages: 'apt-get install ${missing[*]}' failed:"
    tail -n 5 "$log" | sed 's/^/    /'
fi
rm -f "$log"
exit 0
