"""`investmap import KIND FILE [--dry-run] [--json] [--crs wgs84|gcj02]` (docs/import-formats.md)."""

import json
import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from investmap.resources.importing import CRS_CHOICES, all_kinds, import_file

# Files at least this large report progress on stderr (always with -v 2).
PROGRESS_MIN_BYTES = 1024 * 1024


class Command(BaseCommand):
    help = (
        "Import one file of towns, parks, parcels, buildings, pois, enterprises, indicators, "
        "land-grants, teams or policies. One transaction: any invalid row means nothing is written. "
        "Exit status 1 when there are errors."
    )

    def add_arguments(self, parser):
        # all_kinds(): resource kinds plus those other apps register (policies: a .yaml/.json file).
        parser.add_argument("kind", choices=all_kinds(), help="what the file holds")
        parser.add_argument(
            "file",
            help="a .geojson, .csv or .xlsx file (see docs/import-formats.md); "
            "policies: .yaml or .json (docs/policy-format.md)",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="validate and report, write nothing",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help='print {"created", "updated", "unchanged", "errors", "dry_run"} as JSON',
        )
        parser.add_argument(
            "--crs",
            choices=CRS_CHOICES,
            default="wgs84",
            help="coordinates of the file: wgs84 (also CGCS2000, default) or gcj02 (AMap)",
        )
        parser.add_argument(
            "--user",
            help="username recorded as the author of the changes (history and audit)",
        )

    def handle(self, *args, kind, file, dry_run, as_json, crs, user, verbosity, **options):
        author = None
        if user:
            author = get_user_model().objects.filter(username=user).first()
            if author is None:
                raise CommandError(_("no user named '%(user)s'") % {"user": user})
        try:
            size = os.path.getsize(file)
        except OSError:
            size = 0
        show_progress = verbosity >= 2 or (verbosity >= 1 and size >= PROGRESS_MIN_BYTES)

        def progress(message: str) -> None:
            if show_progress:
                self.stderr.write(f"{os.path.basename(file)}: {message}")
                self.stderr.flush()

        report = import_file(
            kind=kind,
            path_or_file=file,
            filename=os.path.basename(file),
            dry_run=dry_run,
            crs=crs,
            user=author,
            progress=progress,
        )
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
        else:
            self.stdout.write(self.human(report))
        if report.errors:
            raise CommandError(
                _("%(n)d errors in %(file)s; nothing was written")
                % {"n": len(report.errors), "file": report.filename},
                returncode=1,
            )

    def human(self, report) -> str:
        if report.dry_run:
            mode = _("dry run, nothing written")
        elif report.errors:
            mode = _("nothing written")
        else:
            mode = _("written")
        lines = [f"{report.filename}: {report.kind} ({mode})"]
        lines.append(
            "  "
            + _("created %(created)d, updated %(updated)d, unchanged %(unchanged)d")
            % {"created": report.created, "updated": report.updated, "unchanged": report.unchanged}
        )
        if len(report.counts) > 1:
            for label, c in report.counts.items():
                lines.append(
                    f"    {label}: "
                    + _("created %(created)d, updated %(updated)d, unchanged %(unchanged)d") % c
                )
        for w in report.warnings:
            lines.append("  " + _("warning: %(warning)s") % {"warning": w})
        if report.errors:
            lines.append(_("%(n)d errors:") % {"n": len(report.errors)})
            if report.row_label == "feature":
                lines.append(
                    "  " + _("(GeoJSON: row = feature number, the first feature is row 1)")
                )
            lines.extend(report.error_lines())
        return "\n".join(lines)
