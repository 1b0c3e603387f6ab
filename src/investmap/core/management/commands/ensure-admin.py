"""`investmap ensure-admin`: make sure an administrator exists and print its credentials.

Used by `make demo`. The password is random and printed once; running the
command again sets a new one (the old one stops working).
"""

import secrets

from django.core.management.base import BaseCommand

from investmap.core.choices import OrgKind, Role
from investmap.core.models import OrgUnit, User


class Command(BaseCommand):
    help = "Create (or reset the password of) the administrator account and print its credentials."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--password", default=None, help="use this password instead of a random one"
        )

    def handle(self, *args, username, password, **opts):
        password = password or secrets.token_urlsafe(12)
        root = OrgUnit.objects.filter(kind=OrgKind.DISTRICT, parent__isnull=True).first()
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "role": Role.BUREAU_STAFF,
                "is_staff": True,
                "is_superuser": True,
                "org_unit": root,
            },
        )
        if root is not None and user.org_unit_id is None:
            user.org_unit = root
        user.set_password(password)
        user.save()
        verb = "created" if created else "password reset for"
        self.stdout.write(
            self.style.SUCCESS(f"Administrator {verb}: username={username} password={password}")
        )
