from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "consent"
    verbose_name = "Consent"

    def ready(self):
        # Keep the role groups in step with ROLE_PERMISSIONS after every migrate, so a
        # permission added to a role reaches existing installations too.
        from django.db.models.signals import post_migrate

        from consent.roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, dispatch_uid="consent_sync_roles")

        # ESP feedback: anymail's documented hook for its tracking webhooks (DESIGN §3.10).
        from anymail.signals import tracking

        from consent.api.esp_feedback import esp_tracking_received

        tracking.connect(esp_tracking_received, dispatch_uid="consent_esp_feedback")
