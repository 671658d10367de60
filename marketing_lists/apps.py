from django.apps import AppConfig


class MarketingListsConfig(AppConfig):
    name = "marketing_lists"
    verbose_name = "Marketing lists"
