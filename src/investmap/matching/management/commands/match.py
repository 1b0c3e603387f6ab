"""`investmap match sites --demand FILE.json [--json]`, `match rebuild`, `match status`."""

import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from investmap.core.scope import Scope, scope_for
from investmap.matching import features, services
from investmap.matching.demand import InvalidDemand

# The command line is an operator's tool (like `investmap import`): it sees the
# whole district unless --user names whose scope to use.
OPERATOR = Scope(user_id=None, role="operator", sees_resources=True, sensitive_org_ids=None)


class Command(BaseCommand):
    help = "Site matching: answer a demand, rebuild the derived tables, show their state."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        sites = sub.add_parser(
            "sites", help="ranked candidate sites for a demand (docs/matching.md)"
        )
        sites.add_argument("--demand", required=True, help="a JSON demand file, or - for stdin")
        sites.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        sites.add_argument("--user", help="answer within this user's scope")
        sites.add_argument("--no-outlines", action="store_true", help="leave GeoJSON outlines out")
        sub.add_parser("rebuild", help="recompute accessibility and adjacency for everything")
        sub.add_parser("status", help="when the derived tables were built, and what is pending")

    def handle(self, *args, action, **options):
        return getattr(self, f"do_{action}")(**options)

    def do_sites(self, *, demand, as_json, user, no_outlines, **options):
        try:
            raw = sys.stdin.read() if demand == "-" else open(demand, encoding="utf-8-sig").read()
        except OSError as exc:
            raise CommandError(
                _("cannot read %(f)s: %(e)s") % {"f": demand, "e": exc.strerror}
            ) from None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CommandError(
                _("%(f)s is not valid JSON (line %(l)s, column %(c)s): %(e)s")
                % {"f": demand, "l": exc.lineno, "c": exc.colno, "e": exc.msg}
            ) from None
        scope = OPERATOR
        if user:
            account = get_user_model().objects.filter(username=user).first()
            if account is None:
                raise CommandError(_("no user named '%(user)s'") % {"user": user})
            scope = scope_for(account)
        try:
            answer = services.match_sites(data=data, scope=scope, outlines=not no_outlines)
        except InvalidDemand as exc:
            if as_json:
                self.stdout.write(
                    json.dumps({"code": "invalid", "errors": exc.errors}, ensure_ascii=False)
                )
                sys.exit(2)
            lines = [f"  {k}: {' '.join(v)}" for k, v in exc.errors.items()]
            raise CommandError(_("the demand is not valid:") + "\n" + "\n".join(lines)) from None
        except services.Forbidden as exc:
            raise CommandError(exc.message) from None
        if as_json:
            self.stdout.write(json.dumps(answer, ensure_ascii=False))
            return
        self.stdout.write(
            _(
                "%(n)d candidate sites (%(p)d parcels, %(c)d combinations, %(f)d floor spaces) in %(ms)s ms"
            )
            % {
                "n": answer["total"],
                "p": answer["counts"]["parcel"],
                "c": answer["counts"]["combination"],
                "f": answer["counts"]["floor_space"],
                "ms": answer["took_ms"],
            }
        )
        for r in answer["results"]:
            site = r.get("building") or " + ".join(r.get("parcels", []))
            self.stdout.write(
                f"{r['rank']:>3}. {r['score']:.3f}  {site}  {r['area_mu']:.1f} {_('mu')}"
            )
            for reason in r["reasons"]:
                mark = "✓" if reason["met"] else "✗"
                self.stdout.write(f"       {mark} {reason['text']}")

    def do_rebuild(self, **options):
        verbose = options.get("verbosity", 1) > 0
        result = features.rebuild(progress=self.stdout.write if verbose else None)
        counts = result.get("counts", {})
        self.stdout.write(
            _("rebuilt in %(s).2f s: %(p)s parcels, %(b)s buildings, %(e)s adjacent pairs")
            % {
                "s": result["seconds"],
                "p": counts.get("parcel", 0),
                "b": counts.get("building", 0),
                "e": counts.get("edges", 0),
            }
        )

    def do_status(self, **options):
        st = features.state()
        self.stdout.write(
            json.dumps(
                {
                    "generation": st.generation,
                    "built_at": st.built_at.isoformat() if st.built_at else None,
                    "seconds": st.seconds,
                    "epsg": st.epsg,
                    "pending_changes": features.pending(),
                    **(st.detail or {}),
                },
                ensure_ascii=False,
                indent=2,
            )
        )
