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

        # The catalog a check reads (profiles, purposes, topics, notices) is kept per process
        # for as long as the stamp's token is unchanged; every change to them changes it.
        from django.db.models.signals import post_delete, post_save

        from consent.models import ComplianceProfile, Notice, Purpose, Topic
        from consent.models.catalog import bump_catalog_stamp

        for model in (ComplianceProfile, Purpose, Topic, Notice):
            uid = f"consent_catalog_stamp_{model._meta.model_name}"
            post_save.connect(bump_catalog_stamp, sender=model, dispatch_uid=f"{uid}_save")
            post_delete.connect(bump_catalog_stamp, sender=model, dispatch_uid=f"{uid}_delete")
