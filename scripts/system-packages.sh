#!/bin/sh
# Installs the Debian packages the test suite needs (listed in system-packages.txt), or stops with one sentence.
#   root with apt-get          -> installs what is missing (CI takes this path too)
#   otherwise                  -> names the packages and the command that installs them, and exits 1
#   ACG2VEC_SKIP_SYSTEM_PACKAGES=1 -> the user chose not to install them: the tests that need them are skipped
set -eu
list="$(dirname "$0")/../system-packages.txt"
missing=""
for entry in $(grep -v '^#' "$list" | awk 'NF { print $1 ":" $2 }'); do
    command -v "${entry%%:*}" >/dev/null 2>&1 || missing="$missing ${entry#*:}"
done
missing="${missing# }"
[ -z "$missing" ] && exit 0

if [ "${ACG2VEC_SKIP_SYSTEM_PACKAGES:-0}" = 1 ] && [ "${CI:-false}" != true ]; then
    echo "acg2vec: not installing the Debian package(s) $missing (ACG2VEC_SKIP_SYSTEM_PACKAGES=1); the tests that need them will be skipped."
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "acg2vec: installing the Debian package(s) the tests need: $missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
    exit 0
fi
echo "acg2vec: the tests need the Debian package(s) $missing (see system-packages.txt): install them with \`sudo apt-get install -y $missing\`, or run \`ACG2VEC_SKIP_SYSTEM_PACKAGES=1 make test\` to skip the tests that need them." >&2
exit 1
