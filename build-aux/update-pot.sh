#!/usr/bin/env bash
# Extracts every translatable string listed in po/POTFILES.in into po/roomtape.pot.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -v '^#' po/POTFILES.in | sed '/^$/d' > po/.files
# Rust is close enough to C for xgettext's keyword scanner; .ui and .xml use their own parsers.
xgettext --from-code=UTF-8 --add-comments --package-name=roomtape \
  --keyword=gettext --keyword=gettext_f --keyword=ngettext:1,2 \
  --language=C $(grep '\.rs$' po/.files) -o po/roomtape.pot
xgettext --from-code=UTF-8 --join-existing $(grep -v '\.rs$' po/.files) -o po/roomtape.pot
rm -f po/.files
echo "wrote po/roomtape.pot ($(grep -c '^msgid ' po/roomtape.pot) strings)"
