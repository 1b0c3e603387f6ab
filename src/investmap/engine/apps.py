from django.apps import AppConfig


class EngineConfig(AppConfig):
    name = "investmap.engine"
    label = "engine"
    verbose_name = "Analysis engine"
