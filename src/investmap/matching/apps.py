from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MatchingConfig(AppConfig):
    name = "investmap.matching"
    label = "matching"
    verbose_name = _("Site matching")

    def ready(self):
        from . import signals

        signals.connect()
