"""`investmap projects alerts|notify|stats|funnel|performance|test-rulesets`.

`notify` is the scheduled job (cron / systemd timer, e.g. every morning): it sends each
new alert once to the officer and their manager (inbox, e-mail, group robots).
"""

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from investmap.resources.commands import ScopedCommand, dump

from ... import services


class Command(ScopedCommand):
    help = "Project library: alerts, notifications, statistics, team performance."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)

        def common(p):
            p.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
            p.add_argument("--user", help="act within this user's scope")
            p.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD (default: today)")

        al = sub.add_parser("alerts", help="stale projects and anomalies as of a date")
        common(al)
        no = sub.add_parser("notify", help="send new alerts (inbox, e-mail, WeCom/DingTalk robots)")
        no.add_argument("--as-of", dest="as_of")
        no.add_argument("--digest", action="store_true", help="one message per recipient")
        no.add_argument("--dry-run", action="store_true", help="count what would be sent")
        no.add_argument("--json", action="store_true", dest="as_json")
        st = sub.add_parser("stats", help="totals by a dimension (they add up to the district)")
        st.add_argument(
            "--group-by",
            dest="group_by",
            default="stage",
            help="stage, category, industry, chain, town, park, team, officer",
        )
        st.add_argument("--from", dest="date_from")
        st.add_argument("--to", dest="date_to")
        common(st)
        fu = sub.add_parser("funnel", help="conversion between stages and days per stage")
        fu.add_argument("--from", dest="date_from")
        fu.add_argument("--to", dest="date_to")
        common(fu)
        pe = sub.add_parser("performance", help="team performance by the versioned ruleset")
        pe.add_argument("--from", dest="date_from")
        pe.add_argument("--to", dest="date_to")
        pe.add_argument("--ruleset")
        common(pe)
        sub.add_parser("test-rulesets", help="run the performance rulesets' YAML cases")

    def prepare(self, options):
        options["as_of"] = services.parse_as_of(options.get("as_of"))
        for key in ("date_from", "date_to"):
            if options.get(key):
                options[key] = services.parse_as_of(options[key])

    def do_alerts(self, *, scope, as_of, as_json=False, **_o):
        from ... import alerts

        rows = alerts.compute(as_of=as_of, scope=scope)
        if as_json:
            self.stdout.write(dump(rows))
            return
        self.stdout.write(_("%(n)s alerts as of %(d)s") % {"n": len(rows), "d": as_of.isoformat()})
        for r in rows:
            self.stdout.write(
                f"  {r['project']}  {r['type']:<24} {r['stage']:<14} "
                f"{r['days']:>5}/{r['limit_days']:<5} {r.get('officer') or '-'}  {r.get('name', '')}"
            )

    def do_notify(self, *, as_of, digest=False, dry_run=False, as_json=False, **_o):
        from ... import notify

        counts = notify.send(
            as_of=as_of,
            digest=digest,
            dry_run=dry_run,
            log=None if as_json else (lambda m: self.stdout.write(m)),
        )
        if as_json:
            self.stdout.write(dump(counts))
        else:
            self.stdout.write(dump(counts))

    def do_stats(
        self, *, scope, group_by, date_from=None, date_to=None, as_of, as_json=False, **_o
    ):
        from ... import stats

        out = stats.stats(
            scope=scope, group_by=group_by, date_from=date_from, date_to=date_to, as_of=as_of
        )
        if as_json:
            self.stdout.write(dump(out))
            return
        self.stdout.write(
            f"{'':<24}{_('projects'):>10}{_('total investment (10k yuan)'):>16}"
            f"{_('signed in the period (10k yuan)'):>16}{_('capital arrived (10k yuan)'):>14}"
        )
        for g in [*out["groups"], {**out["total"], "label": _("total")}]:
            self.stdout.write(
                f"{str(g.get('label') or g.get('key') or '-')[:22]:<24}{g['projects']:>10}"
                f"{(g['total_investment_wan'] or 0):>16,.0f}{(g['signed_wan'] or 0):>16,.0f}"
                f"{(g['capital_wan'] or 0):>14,.0f}"
            )

    def do_funnel(self, *, scope, date_from=None, date_to=None, as_of, **_o):
        from ... import stats

        self.stdout.write(
            dump(stats.funnel(scope=scope, date_from=date_from, date_to=date_to, as_of=as_of))
        )

    def do_performance(self, *, scope, date_from=None, date_to=None, as_of, ruleset=None, **_o):
        from ... import stats

        self.stdout.write(
            dump(
                stats.performance(
                    scope=scope, date_from=date_from, date_to=date_to, as_of=as_of, ruleset=ruleset
                )
            )
        )

    def do_test_rulesets(self, **_o):
        from ... import stats

        problems = stats.run_ruleset_cases()
        for name, items in problems.items():
            if items:
                self.stdout.write(f"{name}: " + _("%(n)s problems") % {"n": len(items)})
                for p in items:
                    self.stdout.write("  " + p)
            else:
                self.stdout.write(f"{name}: " + _("cases pass"))
        if any(problems.values()):
            raise CommandError(_("some ruleset cases fail"))
