from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "investmap.demo"
    label = "demo"
    verbose_name = "Demo district"
