#!/usr/bin/env bash
# Extracts every translatable string listed in po/POTFILES.in into po/roomtape.pot.
set -euo pipefail
cd "$(dirname "$0")/.."
# ROOMTAPE_POT writes the template elsewhere (the test that compares it with the catalogs).
pot=${ROOMTAPE_POT:-po/roomtape.pot}
grep -v '^#' po/POTFILES.in | sed '/^$/d' > po/.files
# Export presets' names and descriptions live in JSON, translated when shown: listed for
# xgettext as C calls.
python3 -c '
import json
for preset in json.load(open("data/export-presets.json")):
    for key in ("name", "description"):
        print("/* Translators: an export format in the Export dialog. */")
        print("gettext(%s);" % json.dumps(preset[key], ensure_ascii=False))
' > po/export-presets.c
# Rust is close enough to C for xgettext's keyword scanner; .ui and .xml use their own parsers.
xgettext --from-code=UTF-8 --add-comments=Translators: --package-name=roomtape \
  --keyword=gettext --keyword=gettext_f --keyword=ngettext:1,2 --keyword=ngettext_f:1,2 \
  --flag=gettext:1:no-c-format --flag=gettext_f:1:no-c-format \
  --flag=ngettext:1:no-c-format --flag=ngettext_f:1:no-c-format \
  --language=C $(grep '\.rs$' po/.files) po/export-presets.c -o "$pot"
xgettext --from-code=UTF-8 --add-comments=Translators: --join-existing $(grep -v '\.rs$' po/.files) -o "$pot"
rm -f po/.files po/export-presets.c
echo "wrote $pot ($(grep -c '^msgid ' "$pot") strings)"
