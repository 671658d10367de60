from django.apps import AppConfig


class MarketingListsConfig(AppConfig):
    name = "marketing_lists"
    verbose_name = "Marketing lists"

    def ready(self):
        # consent sits below this app: the consent load's migration mode learns of the
        # subscription lists here, explicitly (DESIGN §2: no upward imports, no signals).
        from consent.loads import register_migration_source
        from marketing_lists.consent_migration import subscription_members_sql

        register_migration_source(subscription_members_sql)
