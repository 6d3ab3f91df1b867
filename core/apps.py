from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The bottom layer: what every app uses (see docs/architecture.md)."""

    name = "core"
    verbose_name = "Zapa core"
