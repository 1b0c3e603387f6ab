"""`investmap policies import FILE [--dry-run] [--json] [--user NAME]` and
`investmap policies test (FILE | --all | --examples) [--json]` (docs/policy-format.md),
`investmap policies match --policy CODE [--as-of D] [--json] [--user NAME]`,
`investmap policies refresh [--as-of D]` (store matches and push new ones; schedule it daily).

`import` is the same import as `investmap import policies FILE`, with one line per
policy (created / new version / unchanged / refused). `test` runs the policies' own
test cases: of a file (nothing is written), of every stored policy's current
version, or of the shipped examples. Exit status 1 when anything fails.
"""

import os

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.utils.translation import gettext as _

from investmap.policies import document, services
from investmap.policies.models import Policy
from investmap.resources.commands import ScopedCommand, dump


class Command(ScopedCommand):
    help = "Policy library: import policy documents, run their own test cases."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        im = sub.add_parser(
            "import",
            help="import a YAML/JSON file of policies: all or nothing; changed policies get "
            "a new version",
        )
        im.add_argument("file", help="a .yaml, .yml or .json file (docs/policy-format.md)")
        im.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        im.add_argument(
            "--json",
            action="store_true",
            dest="as_json",
            help='print {"created", "updated", "unchanged", "errors", "dry_run", "policies"}',
        )
        im.add_argument("--user", help="username recorded as the author of the new versions")
        te = sub.add_parser("test", help="run the policies' own test cases")
        which = te.add_mutually_exclusive_group(required=True)
        which.add_argument("file", nargs="?", help="a policy file (nothing is written)")
        which.add_argument(
            "--all", action="store_true", help="the current version of every stored policy"
        )
        which.add_argument(
            "--examples", action="store_true", help="the shipped examples (policies/examples)"
        )
        te.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        ma = sub.add_parser("match", help="every enterprise (in the user's scope) against a policy")
        ma.add_argument("--policy", required=True, help="policy code")
        ma.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD (default: today)")
        ma.add_argument("--user", help="act within this user's scope (default: the whole district)")
        ma.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        re_ = sub.add_parser(
            "refresh",
            help="recompute the stored matches of every policy and push the new ones to officers",
        )
        re_.add_argument("--as-of", dest="as_of", help="YYYY-MM-DD (default: today)")
        re_.add_argument("--no-push", action="store_true", help="store only, send nothing")

    # --- match, refresh ------------------------------------------------------------

    def do_match(self, *, scope, policy, as_of=None, as_json=False, **_opts):
        out = services.matches(code=policy, scope=scope, as_of=as_of)
        if as_json:
            self.stdout.write(dump(out))
            return
        self.stdout.write(
            f"{out['policy']} v{out['version']} {out['as_of']}: "
            + (_("in force") if out["in_force"] else _("not in force"))
        )
        for key, n in (out.get("summary") or {}).items():
            self.stdout.write(f"  {key}: {n}")
        for r in out["results"]:
            if r["result"] == "eligible" or r["near_miss"]:
                extra = r["amount_wan"] if r["result"] == "eligible" else r["failed"][0]["label"]
                self.stdout.write(f"  {r['credit_code']}  {r['result']:<18} {extra}  {r['name']}")

    def do_refresh(self, *, as_of=None, no_push=False, **_opts):
        from investmap.policies import engine, push

        counts = engine.refresh(as_of=services.search_as_of(as_of))
        self.stdout.write(
            dump({k: v for k, v in counts.items() if k not in ("new", "newly_eligible")})
        )
        if not no_push:
            self.stdout.write(dump(push.push()))

    # --- import ------------------------------------------------------------------

    def do_import(self, *, file, dry_run, as_json, user, **_opts):
        # ScopedCommand has refused an unknown --user already.
        author = get_user_model().objects.get(username=user) if user else None
        content = _read(file)
        filename = os.path.basename(file)
        report = services.import_policies(
            content=content, filename=filename, dry_run=dry_run, user=author
        )
        if as_json:
            self.stdout.write(dump(report))
        else:
            self.stdout.write(self.human(filename, report))
        if report["errors"]:
            raise CommandError(
                _("%(n)d errors in %(file)s; nothing was written")
                % {"n": len(report["errors"]), "file": filename},
                returncode=1,
            )

    def human(self, filename: str, report: dict) -> str:
        errors = report["errors"]
        if report["dry_run"]:
            mode = _("dry run, nothing written")
        elif errors:
            mode = _("nothing written")
        else:
            mode = _("written")
        lines = [
            f"{filename}: " + _("%(n)d policies") % {"n": len(report["policies"])} + f" ({mode})",
            "  "
            + _("created %(created)d, new versions %(updated)d, unchanged %(unchanged)d") % report,
        ]
        would = report["dry_run"] or bool(errors)
        for row in report["policies"]:
            lines.append(f"  {row['code'] or '?'}: {self._status(row, would)}")
        if errors:
            lines.append(_("%(n)d errors:") % {"n": len(errors)})
            for e in errors:
                lines.append("  " + document.error_line(filename, e))
        return "\n".join(lines)

    @staticmethod
    def _status(row: dict, would: bool) -> str:
        v = {"version": row["version"]}
        if row["status"] == services.INVALID:
            return _("refused (see the errors below)")
        if row["status"] == services.CREATED:
            return (
                _("would be created as version %(version)d")
                if would
                else _("created, version %(version)d")
            ) % v
        if row["status"] == services.NEW_VERSION:
            return (
                _("would get version %(version)d") if would else _("new version %(version)d")
            ) % v
        return _("unchanged (version %(version)d)") % v

    # --- test --------------------------------------------------------------------

    def do_test(self, *, file, all, examples, as_json, **_opts):
        results = []  # {"source", "code", "version", "cases", "problems": [lines]}
        if file:
            results += _test_file(file)
        elif examples:
            for path in document.example_files():
                results += _test_file(str(path))
        else:
            results += _test_stored()
        failures = sum(len(r["problems"]) for r in results)
        if as_json:
            self.stdout.write(dump({"policies": results, "failures": failures}))
        else:
            for r in results:
                where = r["code"] or "?"
                if r.get("version"):
                    where += f" v{r['version']}"
                if r["problems"]:
                    self.stdout.write(
                        f"{r['source']}: {where}: "
                        + _("%(n)d problems") % {"n": len(r["problems"])}
                    )
                    for line in r["problems"]:
                        self.stdout.write("  " + line)
                else:
                    self.stdout.write(
                        f"{r['source']}: {where}: " + _("%(n)d cases pass") % {"n": r["cases"]}
                    )
            if not results:
                self.stdout.write(_("no policies to test"))
        if failures:
            raise CommandError(_("some policy tests fail"), returncode=1)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise CommandError(
            _("cannot read %(file)s: %(reason)s") % {"file": path, "reason": exc.strerror or exc}
        ) from None


def _test_file(path: str) -> list[dict]:
    filename = os.path.basename(path)
    parsed = document.parse_document(content=_read(path), filename=filename)
    out = []
    file_problems = [p for p in parsed.problems if p.policy is None]
    if file_problems:
        out.append(
            {
                "source": filename,
                "code": None,
                "version": None,
                "cases": 0,
                "problems": [p.line(filename) for p in file_problems],
            }
        )
    valid = {p.index: p for p in parsed.policies}
    for index in range(parsed.count):
        problems = [p for p in parsed.problems if p.policy == index]
        policy = valid.get(index)
        out.append(
            {
                "source": filename,
                "code": policy.code if policy else (problems[0].code if problems else None),
                "version": None,
                "cases": len(policy.cases) if policy else 0,
                "problems": [p.line(filename) for p in problems],
            }
        )
    return out


def _test_stored() -> list[dict]:
    out = []
    for head in Policy.objects.select_related("current").order_by("code"):
        version = head.current
        if version is None:
            continue
        try:
            policy = document.compile_document(version.document)
        except document.DocumentError as exc:
            problems, cases = exc.problems, 0
        else:
            problems, cases = document.run_cases(policy), len(policy.cases)
        out.append(
            {
                "source": "stored",
                "code": head.code,
                "version": version.number,
                "cases": cases,
                "problems": [f"{p.path}: {p.message}" if p.path else p.message for p in problems],
            }
        )
    return out
