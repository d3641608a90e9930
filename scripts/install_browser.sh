#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test (tests/e2e/test_dashboard.py): installs the Debian
# packages chromium and chromium-driver with apt-get when they are missing. Never fails: where they
# cannot be installed (no apt-get, not root and no passwordless sudo, no network) it says why and the
# browser test skips itself. ACADEMY_NO_BROWSER_INSTALL=1 skips the attempt.
set -uo pipefail

PACKAGES=(chromium chromium-driver fonts-dejavu-core)

have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }
skip() { echo "browser: $* -- the dashboard's browser test will be skipped" >&2; exit 0; }

if have; then
  exit 0
fi
[[ "${ACADEMY_NO_BROWSER_INSTALL:-}" == 1 ]] && skip "ACADEMY_NO_BROWSER_INSTALL=1"
command -v apt-get >/dev/null 2>&1 || skip "chromium/chromedriver missing and no apt-get to install them"
if [[ "$(id -u)" == 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  skip "chromium/chromedriver missing; installing them needs root: sudo apt-get install ${PACKAGES[*]}"
fi

echo "browser: installing ${PACKAGES[*]} with apt-get (for the dashboard's browser test)"
export DEBIAN_FRONTEND=noninteractive
install() { "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null; }
# The package lists of a fresh machine may be missing or stale: update once if the first try fails.
if ! install && ! { "${SUDO[@]}" apt-get update -q >/dev/null && install; }; then
  skip "apt-get install ${PACKAGES[*]} failed"
fi
have || skip "installed, but chromium or chromedriver is still not on PATH"
echo "browser: $(chromium --version 2>/dev/null | head -n 1), $(chromedriver --version | cut -d' ' -f1-2)"
