#!/usr/bin/env bash
# Runs a command inside a fresh network namespace that has only loopback, so tests can never
# reach any address but 127.0.0.1 / ::1. Needs root (or CAP_SYS_ADMIN) for `unshare -n`.
set -euo pipefail
if [ "$#" -eq 0 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi
exec unshare --net -- sh -c 'ip link set lo up && exec "$@"' netns-run "$@"
