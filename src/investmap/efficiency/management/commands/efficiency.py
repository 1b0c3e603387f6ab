"""`investmap efficiency evaluate|results|idle-land|low-efficiency|land-status|rulesets|test-rulesets`."""

import time

from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from investmap.efficiency import rules, services
from investmap.efficiency.casecheck import check_ruleset
from investmap.resources.commands import ScopedCommand, dump
from investmap.resources.models import IndicatorYear


class Command(ScopedCommand):
    help = "Land-use efficiency: 亩均 evaluation, idle and low-efficiency land, rulesets."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)

        def common(p, json_help="print JSON"):
            p.add_argument("--json", action="store_true", dest="as_json", help=json_help)
            p.add_argument("--user", help="act within this user's scope")

        ev = sub.add_parser("evaluate", help="evaluate a year with a ruleset and store the results")
        which = ev.add_mutually_exclusive_group(required=True)
        which.add_argument("--year", type=int)
        which.add_argument(
            "--all-years",
            action="store_true",
            help="every year with figures (already stored runs are reused)",
        )
        ev.add_argument("--ruleset", help="ruleset name (default: INVESTMAP_EFFICIENCY_RULESET)")
        common(ev, "print one JSON object per enterprise (a JSON array)")
        res = sub.add_parser("results", help="print stored results")
        res.add_argument("--year", required=True, type=int)
        res.add_argument("--ruleset")
        res.add_argument("--version", type=int)
        common(res)
        idle = sub.add_parser("idle-land", help="idle land grants as of a date (闲置土地处置办法)")
        idle.add_argument("--as-of", required=True, dest="as_of", help="YYYY-MM-DD")
        common(idle, "print the idle grants as a JSON array")
        low = sub.add_parser(
            "low-efficiency", help="low-efficiency parcels from the latest evaluation"
        )
        low.add_argument("--ruleset")
        common(low)
        st = sub.add_parser(
            "land-status", help="feed idle and low-efficiency findings into parcel status"
        )
        st.add_argument("--as-of", required=True, dest="as_of")
        st.add_argument("--dry-run", action="store_true", help="show the changes, write nothing")
        common(st)
        rs = sub.add_parser("rulesets", help="list the rulesets and their versions")
        common(rs)
        tr = sub.add_parser("test-rulesets", help="run every ruleset's YAML cases")
        tr.add_argument("names", nargs="*")

    def _rows(self, answer):
        keys = (
            "credit_code",
            "name",
            "population",
            "group",
            "status",
            "score",
            "indicator_scores",
            "indicator_values",
            "deduction",
            "grade",
            "rank",
            "population_size",
            "missing",
            "filled",
        )
        return [{k: r[k] for k in keys} for r in answer["results"]]

    def do_evaluate(self, *, scope, year, all_years, ruleset, as_json, **_opts):
        if all_years:
            if as_json:
                raise CommandError(_("--json needs one --year"))
            years = sorted(set(IndicatorYear.objects.values_list("year", flat=True)))
            if not years:
                self.stdout.write(_("No yearly figures yet: nothing to evaluate."))
            for i, y in enumerate(years, 1):
                self.stderr.write(f"[{i}/{len(years)}] {y}")
                self.do_evaluate(
                    scope=scope, year=y, all_years=False, ruleset=ruleset, as_json=False
                )
            return
        if not as_json:
            self.stderr.write(
                _("Evaluating %(y)s with %(r)s in the engine…")
                % {"y": year, "r": ruleset or "default"}
            )
        t0 = time.perf_counter()
        ev, created = services.evaluate(year=year, ruleset=ruleset, scope=scope)
        answer = services.results(
            year=year,
            ruleset=ev.ruleset.name,
            version=ev.ruleset.version,
            scope=scope,
            order="code",
        )
        if as_json:
            self.stdout.write(dump(self._rows(answer)))
            return
        self.stdout.write(
            (
                _("Stored evaluation %(id)s")
                if created
                else _("Same ruleset version and inputs as evaluation %(id)s: reused")
            )
            % {"id": ev.id}
        )
        self._print_summary(ev, time.perf_counter() - t0)

    def _print_summary(self, ev, seconds):
        self.stdout.write(
            _(
                "%(y)s, %(r)s v%(v)s: %(n)s enterprises with figures, engine %(ms)s ms, total %(s).1f s"
            )
            % {
                "y": ev.year,
                "r": ev.ruleset.name,
                "v": ev.ruleset.version,
                "n": ev.inputs,
                "ms": ev.took_ms,
                "s": seconds,
            }
        )
        for pop, c in ev.summary.get("populations", {}).items():
            grades = "  ".join(f"{g}:{c.get('grade_' + g, 0)}" for g in "ABCD")
            self.stdout.write(
                f"  {pop}: {c.get('total', 0)} — {_('scored')} {c.get('scored', 0)}, "
                f"{_('insufficient data')} {c.get('insufficient_data', 0)}; {grades}"
            )

    def do_results(self, *, scope, year, ruleset, version, as_json, **_opts):
        answer = services.results(
            year=year, ruleset=ruleset, version=version, scope=scope, order="code"
        )
        if as_json:
            self.stdout.write(dump(self._rows(answer)))
            return
        for r in answer["results"]:
            score = "" if r["score"] is None else f"{r['score']:.2f}"
            self.stdout.write(
                f"{r['credit_code']}  {r['population']:<6} {r['grade'] or '-':<2} {score:>8}  "
                f"{r['rank'] or '':>5}/{r['population_size'] or '':<5} {r['name']}"
                + (f"  [{_('missing')}: {', '.join(r['missing'])}]" if r["missing"] else "")
            )

    def do_idle_land(self, *, scope, as_of, as_json, **_opts):
        answer = services.idle_land(as_of=as_of, scope=scope)
        if as_json:
            keys = (
                "parcel",
                "enterprise",
                "reason",
                "idle_since",
                "fee_estimate_wan",
                "recoverable",
            )
            extra = (
                "area_mu",
                "contract_start_on",
                "started_on",
                "halted_since",
                "recoverable_since",
                "days_idle",
            )
            self.stdout.write(dump([{k: r[k] for k in keys + extra} for r in answer["results"]]))
            return
        self.stdout.write(
            _(
                "%(n)s idle grants as of %(d)s, %(mu).1f mu, idle fees %(fee).1f 万元, %(rec)s recoverable"
            )
            % {
                "n": answer["count"],
                "d": answer["as_of"],
                "mu": answer["area_mu"],
                "fee": answer["fee_estimate_wan"],
                "rec": answer["recoverable"],
            }
        )
        for r in answer["results"]:
            self.stdout.write(
                f"  {r['parcel']}  {r['enterprise']}  {r['reason']:<15} {r['idle_since']}  "
                f"{r['fee_estimate_wan'] if r['fee_estimate_wan'] is not None else '-'}  "
                + (_("recoverable") if r["recoverable"] else "")
            )
        if answer["undetermined"]:
            self.stdout.write(
                _("%(n)s halted grants lack the built or invested share to decide")
                % {"n": len(answer["undetermined"])}
            )

    def do_low_efficiency(self, *, scope, ruleset, as_json, **_opts):
        answer = services.low_efficiency_land(scope=scope, ruleset=ruleset)
        if as_json:
            self.stdout.write(dump(answer))
            return
        self.stdout.write(
            _("%(n)s low-efficiency parcels, %(mu).1f mu")
            % {"n": answer["count"], "mu": answer["area_mu"]}
        )
        for r in answer["results"]:
            self.stdout.write(f"  {r['parcel']}  {','.join(r['reasons'])}")

    def do_land_status(self, *, scope, as_of, dry_run, as_json, **_opts):
        answer = services.apply_land_status(as_of=as_of, scope=scope, dry_run=dry_run)
        if as_json:
            self.stdout.write(dump(answer))
            return
        self.stdout.write(
            (
                _("Would change %(c)s parcels and revert %(r)s")
                if dry_run
                else _("Changed %(c)s parcels, reverted %(r)s")
            )
            % {"c": len(answer["changed"]), "r": len(answer["reverted"])}
        )
        for r in answer["changed"] + answer["reverted"]:
            self.stdout.write(f"  {r['parcel']}: {r['from']} → {r['to']} {','.join(r['reasons'])}")

    def do_rulesets(self, *, scope, as_json, **_opts):
        answer = services.list_rulesets(scope=scope)
        if as_json:
            self.stdout.write(dump(answer))
            return
        for r in answer:
            if not r["valid"]:
                self.stdout.write(
                    f"{r['name']}: " + _("not valid") + ": " + "; ".join(r["problems"])
                )
                continue
            self.stdout.write(f"{r['name']}  {r['title']}  ({r['source'].get('title', '')})")

    def do_test_rulesets(self, *, names, **_opts):
        failures = 0
        for name in names or sorted(rules.available()):
            ruleset = rules.load(name)
            problems = check_ruleset(ruleset)
            cases = len(ruleset.tests)
            if problems:
                failures += len(problems)
                self.stdout.write(f"{name}: " + _("%(n)s problems") % {"n": len(problems)})
                for p in problems:
                    self.stdout.write("  " + p)
            else:
                self.stdout.write(f"{name}: " + _("%(n)s cases pass") % {"n": cases})
        if failures:
            raise CommandError(_("some ruleset cases fail"))
