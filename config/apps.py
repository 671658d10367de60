from django.contrib.admin.apps import AdminConfig


class ConsentAdminConfig(AdminConfig):
    """Django's admin with the DPO dashboard site (imports nothing else: apps load after it)."""

    default_site = "config.admin.ConsentAdminSite"

    def ready(self):
        super().ready()
        from config import checks  # noqa: F401 (registers the deploy checks)
