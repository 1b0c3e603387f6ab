"""`investmap api-token create --user NAME [--name LABEL]` (prints the token once)."""

from django.core.management.base import BaseCommand, CommandError

from investmap.core.models import ApiToken, User


class Command(BaseCommand):
    help = (
        "Create or revoke REST API tokens. The raw token is printed once; only its hash is stored."
    )

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="create a token for a user")
        create.add_argument("--user", required=True)
        create.add_argument("--name", default="")
        revoke = sub.add_parser("revoke", help="revoke every token with this prefix")
        revoke.add_argument("prefix")

    def handle(self, *args, action, **opts):
        if action == "create":
            try:
                user = User.objects.get(username=opts["user"])
            except User.DoesNotExist as exc:
                raise CommandError(f"no user named {opts['user']!r}") from exc
            _token, raw = ApiToken.issue(user=user, name=opts["name"])
            self.stdout.write(raw)
        else:
            from django.utils import timezone

            n = ApiToken.objects.filter(prefix=opts["prefix"], revoked_at__isnull=True).update(
                revoked_at=timezone.now()
            )
            if not n:
                raise CommandError(f"no active token with prefix {opts['prefix']!r}")
            self.stdout.write(f"revoked {n}")
