"""Field filters of marketing lists (API list endpoint), the DPO views included."""

from django_filters import rest_framework as filters

from common.api import StrictFilterSet, view_filter
from marketing_lists.models import MarketingList


class MarketingListFilterSet(StrictFilterSet):
    view = view_filter(MarketingList)
    name = filters.CharFilter(lookup_expr="icontains", label="Name contains")

    class Meta:
        model = MarketingList
        fields = {
            "list_type": ["exact"],
            "member_type": ["exact"],
            "active": ["exact"],
            "purpose": ["exact", "isnull"],
            "topic": ["exact"],
        }
