from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "investmap.core"
    label = "core"
    verbose_name = "Core"

    def ready(self):
        from . import auth  # noqa: F401  (login audit signal receivers)
