"""A base for management commands with sub-actions that call services in a user's scope.

`investmap efficiency …` and `investmap projects …` (and later apps) share it:
`handle()` resolves `--user` (default: the operator, the whole district),
dispatches to `do_<action>(scope=…, **options)` and turns a service refusal
into a clear error: JSON `{code, message, errors}` with exit status 2 under
`--json`, otherwise a CommandError listing each field's problems.
"""

import json
import sys

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from investmap.core.scope import OPERATOR, scope_for

from .services import ServiceError


def dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)


class ScopedCommand(BaseCommand):
    def prepare(self, options: dict) -> None:
        """Hook: parse or check options before the action runs (raise ServiceError)."""

    def handle(self, *args, action, **options):
        scope = OPERATOR
        if options.get("user"):
            account = get_user_model().objects.filter(username=options["user"]).first()
            if account is None:
                raise CommandError(_("no user named '%(user)s'") % {"user": options["user"]})
            scope = scope_for(account)
        try:
            self.prepare(options)
            return getattr(self, "do_" + action.replace("-", "_"))(scope=scope, **options)
        except ServiceError as exc:
            errors = getattr(exc, "errors", None)
            if options.get("as_json"):
                self.stdout.write(
                    dump({"code": exc.code, "message": exc.message, "errors": errors})
                )
                sys.exit(2)
            lines = [f"  {k}: {'; '.join(v)}" for k, v in (errors or {}).items()]
            raise CommandError("\n".join([exc.message, *lines])) from None
