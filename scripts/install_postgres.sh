#!/usr/bin/env bash
# PostgreSQL (the Debian package) for the cluster profile's integration test
# (tests/e2e/test_cluster_postgres.py: an MLflow tracking server on PostgreSQL). Installed with apt-get
# when missing; the test starts its own private cluster on 127.0.0.1 in a temporary directory, so the
# package's own service is never needed. Never fails: where it cannot be installed (no apt-get, not
# root and no passwordless sudo, no network) it says why and the test skips itself.
# ACADEMY_NO_POSTGRES_INSTALL=1 skips the attempt.
set -uo pipefail

PACKAGES=(postgresql)

have() { compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; }
skip() { echo "postgres: $* -- the PostgreSQL integration test will be skipped" >&2; exit 0; }

if have; then
  exit 0
fi
[[ "${ACADEMY_NO_POSTGRES_INSTALL:-}" == 1 ]] && skip "ACADEMY_NO_POSTGRES_INSTALL=1"
command -v apt-get >/dev/null 2>&1 || skip "PostgreSQL missing and no apt-get to install it"
if [[ "$(id -u)" == 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  skip "PostgreSQL missing; installing it needs root: sudo apt-get install ${PACKAGES[*]}"
fi

echo "postgres: installing ${PACKAGES[*]} with apt-get (for the PostgreSQL integration test)"
export DEBIAN_FRONTEND=noninteractive
# RUNLEVEL=1: Debian's invoke-rc.d does not start the package's own cluster (the test runs a private one).
install() {
  "${SUDO[@]}" env RUNLEVEL=1 apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" >/dev/null
}
# The package lists of a fresh machine may be missing or stale: update once if the first try fails.
if ! install && ! { "${SUDO[@]}" apt-get update -q >/dev/null && install; }; then
  skip "apt-get install ${PACKAGES[*]} failed"
fi
have || skip "installed, but no /usr/lib/postgresql/*/bin/initdb"
echo "postgres: $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
