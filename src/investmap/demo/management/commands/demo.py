"""`investmap demo`: generate the demo district and store it (and/or export it as import files)."""

import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.translation import gettext as _

from investmap.demo.exporter import export_files
from investmap.demo.generator import SCALES, generate
from investmap.demo.projects import (
    ProjectsNotEmpty,
    clear_projects,
    is_demo_library,
    write_projects,
)
from investmap.demo.writer import LibraryNotEmpty, library_counts, write
from investmap.projects.models import Project


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(_("'%(v)s' is not a date; use YYYY-MM-DD") % {"v": value}) from None


class Command(BaseCommand):
    help = _("Generate the deterministic demo district and write it into the resource library.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--seed", type=int, default=42, help=_("random seed (same seed, same district)")
        )
        parser.add_argument(
            "--scale",
            choices=list(SCALES),
            default="district",
            help=_("tiny (~300 parcels), district (~30k), city (~5×), province (~20×)"),
        )
        parser.add_argument(
            "--reset", action="store_true", help=_("delete the resource library first")
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help=_("do nothing (and succeed) when the library already holds data"),
        )
        parser.add_argument(
            "--export", metavar="DIR", help=_("also write the import files into DIR")
        )
        parser.add_argument(
            "--no-write", action="store_true", help=_("do not touch the database (with --export)")
        )
        parser.add_argument(
            "--no-history", action="store_true", help=_("skip the initial history records")
        )
        parser.add_argument(
            "--projects",
            type=int,
            metavar="N",
            help=_("number of demo projects (default: one per 40 enterprises, at least 30)"),
        )
        parser.add_argument(
            "--as-of",
            metavar="DATE",
            help=_("the day the demo projects' timelines lead up to (default: today)"),
        )

    def handle(
        self,
        *args,
        seed,
        scale,
        reset,
        if_empty,
        export,
        no_write,
        no_history,
        projects,
        as_of,
        **options,
    ):
        if no_write and not export:
            raise CommandError(_("--no-write only makes sense with --export DIR."))
        as_of = _date(as_of) if as_of else None
        if projects is not None and projects < 0:
            raise CommandError(_("--projects must be 0 or more."))
        say = self.stdout.write
        if not no_write and not reset:
            counts = library_counts()
            if any(counts.values()):
                if if_empty:
                    say(
                        _(
                            "The resource library already holds data; the demo district was not written."
                        )
                    )
                    # A demo district written before the project library existed gets its projects.
                    if not Project.objects.exists() and is_demo_library() and projects != 0:
                        self.write_projects(seed, projects, as_of, not no_history)
                    return
                raise CommandError(str(LibraryNotEmpty(counts)))
            if Project.objects.exists():
                raise CommandError(str(ProjectsNotEmpty(Project.objects.count())))
        t_start = time.perf_counter()
        say(
            _("Generating the %(scale)s demo district (seed %(seed)s) …")
            % {"scale": scale, "seed": seed}
        )
        district = generate(seed=seed, scale=scale, log=say)
        t_gen = time.perf_counter() - t_start
        say(_("Generated %(name)s in %(secs).1f s.") % {"name": district.name, "secs": t_gen})
        written, t_write = {}, 0.0
        n_projects = None
        if not no_write:
            say(_("Writing to the record store …"))
            t0 = time.perf_counter()
            try:
                with transaction.atomic():
                    if reset:
                        n = clear_projects()
                        if n:
                            say(f"  {'reset':<13}{n:>8} projects deleted")
                    written = write(district, reset=reset, history=not no_history, log=say)
                    if projects != 0:
                        n_projects = self.write_projects(seed, projects, as_of, not no_history)
            except (LibraryNotEmpty, ProjectsNotEmpty) as exc:
                raise CommandError(str(exc)) from exc
            t_write = time.perf_counter() - t0
            say(_("Written in %(secs).1f s.") % {"secs": t_write})
        if export:
            t0 = time.perf_counter()
            files = export_files(district, export)
            for path in files.values():
                say(f"  {path.name:<18}{path.stat().st_size / 1e6:8.1f} MB")
            say(
                _("Exported the import files to %(dir)s in %(secs).1f s.")
                % {"dir": export, "secs": time.perf_counter() - t0}
            )
        counts = district.counts()
        say(_("Summary:"))
        for kind, n in counts.items():
            say(f"  {kind:<13}{n:>9,}")
        if n_projects is not None:
            say(f"  {'projects':<13}{n_projects:>9,}")
        say(
            _("Total %(secs).1f s (generate %(gen).1f s, write %(write).1f s).")
            % {"secs": time.perf_counter() - t_start, "gen": t_gen, "write": t_write}
        )
        if written:
            self.stdout.write(
                self.style.SUCCESS(
                    _("The demo district %(name)s is in the library.") % {"name": district.name}
                )
            )

    def write_projects(self, seed, count, as_of, history) -> int:
        say = self.stdout.write
        say(_("Writing the demo project library …"))
        t0 = time.perf_counter()
        written = write_projects(seed=seed, count=count, as_of=as_of, log=say, history=history)
        say(
            _("%(n)s projects written in %(secs).1f s.")
            % {"n": written["projects"], "secs": time.perf_counter() - t0}
        )
        return written["projects"]
