#!/usr/bin/env bash
# Installs the Debian 12 packages Roomtape needs to build, run and test.
# Idempotent: does nothing when every package is already present.
set -euo pipefail

PACKAGES=(
  pkg-config libgtk-4-dev libadwaita-1-dev libgstreamer1.0-dev
  libgstreamer-plugins-base1.0-dev libgstreamer-plugins-bad1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-nice gstreamer1.0-libav gstreamer1.0-tools
  gstreamer1.0-gl gstreamer1.0-x gstreamer1.0-plugins-base-apps libsoup-3.0-dev
  xvfb xauth dbus-daemon imagemagick libgl1-mesa-dri iproute2 util-linux
  desktop-file-utils appstream libglib2.0-bin libglib2.0-dev-bin gettext
  # The opentimelineio package from PyPI reads OTIO exports back (tests/export.rs), in a venv.
  python3-venv
  # systemd-analyze checks data/roomtape-record@.service (tests/systemd.rs).
  systemd
  # Peers no one here wrote, for tests/browsers.rs: a browser, a WebSocket stack, a TURN server.
  chromium python3-websockets coturn
  # A notification server no one here wrote, for the background-notification UI test.
  dunst
  # A keyring no one here wrote (Secret Service), its client tool, and dconf to check that no
  # secret lands in the settings, for tests/keyring.rs.
  gnome-keyring libsecret-tools dconf-cli dconf-service dconf-gsettings-backend
  # An HTTP client no one here wrote, for the control API in tests/automation.rs.
  curl
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi

echo "Installing ${#missing[@]} Debian packages: ${missing[*]}" >&2
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
