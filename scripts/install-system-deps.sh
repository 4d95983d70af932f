#!/usr/bin/env bash
# Installs the system services the integration tests start (Debian packages), once: Redis (the
# production profile's online store and action ledger), PostgreSQL (its Feast registry and
# offline store) and Chromium (the reports checked in a real browser). Needs root; skips what is
# already installed, so it is a no-op (and needs no root) on a prepared machine.
#
#   sudo bash scripts/install-system-deps.sh            # or: make system-deps (as root)
#   bash scripts/install-system-deps.sh redis-server    # only some
#
# CI runs it before `make test` (.ci/run); `make test` itself never installs anything.
set -euo pipefail

needed=("$@")
if [ ${#needed[@]} -eq 0 ]; then
  needed=(redis-server postgresql chromium)
fi

missing=()
for pkg in "${needed[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: need root to install: ${missing[*]} (run it with sudo)" >&2
  exit 1
fi
echo "install-system-deps: installing ${missing[*]}"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
