from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Demo data and demo users for `make run` and the benchmarks; above every other app."""

    name = "demo"
    verbose_name = "Demo data"
