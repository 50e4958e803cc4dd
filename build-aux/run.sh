#!/usr/bin/env bash
# Builds and opens Roomtape. With no arguments it opens the built-in demo room, which needs no
# network at all; any arguments are passed on (e.g. --room NAME --server wss://...).
set -euo pipefail
cd "$(dirname "$0")/.."
bash build-aux/install-deps.sh
cargo build --locked
if [ "$#" -eq 0 ]; then
  set -- --demo
fi
exec target/debug/roomtape "$@"
