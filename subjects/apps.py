from django.apps import AppConfig


class SubjectsConfig(AppConfig):
    name = "subjects"
    verbose_name = "Data subjects"

    def ready(self):
        # Infrastructure, not a domain rule: copies the audit source onto history rows.
        from common import audit

        audit.connect()
