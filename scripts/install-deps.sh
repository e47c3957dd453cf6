#!/usr/bin/env bash
# Installs from Debian's packages what a fresh machine lacks for building and testing ustack.
# As root it installs; otherwise it prints the one apt command needed and fails.
set -euo pipefail
pkgs=(cmake make g++ clang-tidy libgtest-dev libgmock-dev libbenchmark-dev libboost-dev libboost-context-dev
      python3)  # python3: the preload tests run Debian's /usr/bin/python3 under ustack-run
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]} == 0)) && exit 0
if [[ $(id -u) -ne 0 ]]; then
  echo "missing packages; run: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
