from django.apps import AppConfig


class PreferenceCenterConfig(AppConfig):
    name = "preference_center"
    verbose_name = "Preference center"

    def ready(self):
        from preference_center import log_filters

        log_filters.install()
