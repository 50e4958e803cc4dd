#!/usr/bin/env bash
# The whole test suite, as CI runs it. Installs what it needs on Debian 12 first.
set -euo pipefail
cd "$(dirname "$0")/.."

bash build-aux/install-deps.sh

export CARGO_TERM_COLOR=never
step() { echo; echo "==> $*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "roomtape-core stays pure"
# The pure layers must not reach the desktop stack, not even through a dependency.
if cargo tree --locked -p roomtape-core -e normal --prefix none \
    | grep -E '^(glib|gio|gtk4|libadwaita|gstreamer|soup3)[ -]'; then
  echo "roomtape-core depends on the crates above; it must stay free of GLib, GTK, GStreamer and libsoup" >&2
  exit 1
fi

step "data files"
desktop-file-validate data/io.github.roomtape.Roomtape.desktop
appstreamcli validate --no-net data/io.github.roomtape.Roomtape.metainfo.xml
glib-compile-schemas --strict --dry-run data

step "python tools for tests"
# tests/export.rs reads OpenTimelineIO exports back with the opentimelineio package from PyPI;
# the tests themselves run without network, so the package is installed here.
OTIO_VENV="${CARGO_TARGET_DIR:-target}/otio-venv"
if ! "$OTIO_VENV/bin/python" -c \
  "import sys, opentimelineio as o; sys.exit(o.__version__ != '0.18.1')" 2>/dev/null; then
  python3 -m venv "$OTIO_VENV"
  "$OTIO_VENV/bin/pip" install --quiet opentimelineio==0.18.1
fi

step "build tests"
cargo test --workspace --locked --no-run

step "tests (loopback-only network namespace, headless X server)"
# Every test runs with no network but loopback, under Xvfb for the GTK tests.
build-aux/netns-run.sh \
  xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  dbus-run-session -- \
  env GSK_RENDERER=cairo GTK_A11Y=none GSETTINGS_BACKEND=memory NO_AT_BRIDGE=1 \
  cargo test --workspace --locked --offline -- --test-threads=2

echo
echo "All checks passed."
