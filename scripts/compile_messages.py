"""Compile the .po translation catalogues to .mo with polib (no GNU gettext needed).

`--check` fails when a committed .mo is missing or stale, so a translation
edit cannot land without its compiled catalogue. Extracting new strings still
uses Django's `investmap makemessages -l zh_Hans` (needs gettext's xgettext).
"""

import argparse
import sys
import tempfile
from pathlib import Path

import polib

LOCALE = Path(__file__).resolve().parent.parent / "src" / "investmap" / "locale"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="only verify the .mo files are current")
    args = ap.parse_args()
    stale = []
    for po_path in sorted(LOCALE.glob("*/LC_MESSAGES/*.po")):
        po = polib.pofile(str(po_path))
        mo_path = po_path.with_suffix(".mo")
        with tempfile.NamedTemporaryFile(suffix=".mo") as tmp:
            po.save_as_mofile(tmp.name)
            fresh = Path(tmp.name).read_bytes()
        if args.check:
            if not mo_path.exists() or mo_path.read_bytes() != fresh:
                stale.append(str(mo_path))
        else:
            mo_path.write_bytes(fresh)
            print(
                f"compiled {mo_path.relative_to(LOCALE.parent.parent.parent)} "
                f"({po.percent_translated()}% translated)"
            )
    if stale:
        print("stale or missing compiled catalogues (run `make messages`):", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
