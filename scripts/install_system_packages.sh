#!/usr/bin/env bash
# Installs the Debian packages gotransfer needs from the system (apt).
#
#   dataset-fashion-mnist   Zalando's Fashion-MNIST (IDX files under
#                           /usr/share/datasets/fashion-mnist), the real data
#                           set that installs offline; scripts/prepare_fashion_mnist.py
#                           turns it into class folders.
#
# Idempotent: packages already installed are left alone, and `apt-get update`
# runs only when something has to be installed. Needs root for that; without
# it, prints the command to run and exits 1.
set -euo pipefail

packages=(dataset-fashion-mnist)
say() { printf '[system-packages] %s\n' "$*"; }

command -v dpkg-query >/dev/null || {
	say "error: no dpkg-query: this is not a Debian/Ubuntu system; install the equivalent of: ${packages[*]}" >&2
	exit 1
}

missing=()
for p in "${packages[@]}"; do
	if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" = installed ]; then
		say "$p: installed ($(dpkg-query -W -f='${Version}' "$p"))"
	else
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

cmd="apt-get update && apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	say "error: not root; to install ${missing[*]}, run:" >&2
	say "    sudo sh -c '$cmd'" >&2
	exit 1
fi
say "installing ${missing[*]}: $cmd"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
for p in "${missing[@]}"; do
	say "$p: installed ($(dpkg-query -W -f='${Version}' "$p"))"
done
