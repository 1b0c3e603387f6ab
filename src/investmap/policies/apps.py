from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PoliciesConfig(AppConfig):
    name = "investmap.policies"
    label = "policies"
    verbose_name = _("Policies")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # `investmap import policies FILE`: resources (floor 2) may not import this app,
        # so the policies kind is registered into its importer here.
        from investmap.resources.importing import EXTRA_KINDS

        from .services import import_report

        EXTRA_KINDS["policies"] = import_report

        # Stored matches follow enterprise, indicator, grade and policy changes (signals.py).
        from . import signals

        signals.connect()
