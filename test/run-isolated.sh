#!/usr/bin/env bash
# Runs a command in a fresh network namespace that has only loopback, so nothing a test starts
# (controller, mock model servers, the real provider CLIs) can reach any other address.
# Needs root (or user namespaces) and iproute2; without them it runs the command as is and says so.
set -euo pipefail
if [ "${ASM_TEST_NETNS:-}" != "0" ] && unshare -n true 2>/dev/null && command -v ip >/dev/null; then
  export ASM_TEST_NETNS=1
  exec unshare -n -- bash -c 'ip link set lo up && exec "$@"' bash "$@"
fi
echo "warning: no network namespace available; tests run without network isolation" >&2
export ASM_TEST_NETNS=0
exec "$@"
