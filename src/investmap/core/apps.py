from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "investmap.core"
    label = "core"
    verbose_name = "Core"
