#!/usr/bin/env bash
# Installs the system packages the tests need (Debian packages), once. Nothing is installed by
# hand: CI and a fresh machine get the same set from here. Skips what is already present.
set -euo pipefail

needed=()
# (filled by later stages: redis-server, postgresql, chromium)
for pkg in "$@"; do needed+=("$pkg"); done

missing=()
for pkg in "${needed[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
echo "install-system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
