#!/usr/bin/env bash
# Installs Roomtape the way a GNOME app is installed, or removes exactly what it installed.
#
#   build-aux/install.sh [--prefix DIR] [--destdir DIR] [--binary FILE] [--uninstall]
#
# --prefix   where the app lives (default /usr/local); compiled into the binary's locale path
# --destdir  staging root for packagers: files go to DESTDIR/PREFIX, no caches are updated
# --binary   install this already built binary instead of building in release
# --uninstall  remove the files listed in PREFIX/share/roomtape/installed-files
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local
destdir=
binary=
uninstall=false
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    --uninstall) uninstall=true; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$prefix" in /*) ;; *) echo "install.sh: --prefix must be absolute" >&2; exit 2 ;; esac

app_id=io.github.roomtape.Roomtape
root="$destdir$prefix"
share="$root/share"
record="$share/roomtape/installed-files"

update_caches() {
  # Only for the live system (no --destdir): packagers run these themselves.
  [ -z "$destdir" ] || return 0
  if [ -d "$share/glib-2.0/schemas" ]; then glib-compile-schemas "$share/glib-2.0/schemas"; fi
  if command -v gtk4-update-icon-cache >/dev/null && [ -f "$share/icons/hicolor/index.theme" ]; then
    gtk4-update-icon-cache -q -t -f "$share/icons/hicolor" || true
  fi
  if command -v update-desktop-database >/dev/null && [ -d "$share/applications" ]; then
    update-desktop-database -q "$share/applications" || true
  fi
}

if $uninstall; then
  if [ ! -f "$record" ]; then
    echo "install.sh: nothing to uninstall: $record is missing" >&2
    exit 1
  fi
  while IFS= read -r file; do
    rm -f "$root/$file"
    # Folders this install made and left empty go too.
    dir=$(dirname "$root/$file")
    while [ "$dir" != "$root" ] && rmdir "$dir" 2>/dev/null; do dir=$(dirname "$dir"); done
  done < "$record"
  rm -f "$record"
  rmdir "$share/roomtape" 2>/dev/null || true
  # The compiled schema cache is rebuilt without our schema (or removed with the last one).
  if [ -z "$destdir" ] && [ -d "$share/glib-2.0/schemas" ]; then
    if ls "$share/glib-2.0/schemas"/*.gschema.xml >/dev/null 2>&1; then
      glib-compile-schemas "$share/glib-2.0/schemas"
    else
      rm -f "$share/glib-2.0/schemas/gschemas.compiled"
      rmdir -p "$share/glib-2.0/schemas" 2>/dev/null || true
    fi
  fi
  # The same for the desktop database and the icon cache: rebuilt, or gone with the last entry.
  if [ -z "$destdir" ] && [ -d "$share/applications" ]; then
    if ls "$share/applications"/*.desktop >/dev/null 2>&1; then
      update-desktop-database -q "$share/applications" || true
    else
      rm -f "$share/applications/mimeinfo.cache"
      rmdir -p "$share/applications" 2>/dev/null || true
    fi
  fi
  if [ -z "$destdir" ] && [ -f "$share/icons/hicolor/icon-theme.cache" ] \
    && [ -f "$share/icons/hicolor/index.theme" ]; then
    gtk4-update-icon-cache -q -t -f "$share/icons/hicolor" || true
  fi
  echo "removed Roomtape from $root"
  exit 0
fi

if [ -z "$binary" ]; then
  # The binary looks for translations where they are installed.
  ROOMTAPE_LOCALEDIR="$prefix/share/locale" cargo build --release --locked
  binary=target/release/roomtape
fi

installed=()
put() { # put MODE SOURCE RELATIVE-TARGET
  install -D -m "$1" "$2" "$root/$3"
  installed+=("$3")
}
put 755 "$binary" bin/roomtape

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
# The desktop file and metainfo carry every translation in po/.
msgfmt --desktop -d po --template "data/$app_id.desktop" -o "$staging/$app_id.desktop"
msgfmt --xml -d po --template "data/$app_id.metainfo.xml" -o "$staging/$app_id.metainfo.xml"
put 644 "$staging/$app_id.desktop" "share/applications/$app_id.desktop"
put 644 "$staging/$app_id.metainfo.xml" "share/metainfo/$app_id.metainfo.xml"
put 644 "data/$app_id.gschema.xml" "share/glib-2.0/schemas/$app_id.gschema.xml"
put 644 "data/icons/hicolor/scalable/apps/$app_id.svg" "share/icons/hicolor/scalable/apps/$app_id.svg"
put 644 "data/icons/hicolor/symbolic/apps/$app_id-symbolic.svg" \
  "share/icons/hicolor/symbolic/apps/$app_id-symbolic.svg"
for lang in $(grep -v '^#' po/LINGUAS); do
  msgfmt --check -o "$staging/$lang.mo" "po/$lang.po"
  put 644 "$staging/$lang.mo" "share/locale/$lang/LC_MESSAGES/roomtape.mo"
done
gzip -9n -c data/roomtape.1 > "$staging/roomtape.1.gz"
put 644 "$staging/roomtape.1.gz" share/man/man1/roomtape.1.gz
# One recorder per room as a systemd template (roomtape-record@ROOM), running this binary.
sed "s|@bindir@|$prefix/bin|g" "data/roomtape-record@.service" > "$staging/roomtape-record@.service"
put 644 "$staging/roomtape-record@.service" "lib/systemd/system/roomtape-record@.service"

mkdir -p "$(dirname "$record")"
printf '%s\n' "${installed[@]}" > "$record"
update_caches
echo "installed Roomtape into $root (${#installed[@]} files, listed in $record)"
