from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EfficiencyConfig(AppConfig):
    name = "investmap.efficiency"
    label = "efficiency"
    verbose_name = _("Land-use efficiency")
