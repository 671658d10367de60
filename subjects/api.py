"""REST API for accounts (leads and contacts live in consent.api: their writes touch consents)."""

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets

from common.api import ModelSerializer
from common.audit import Source
from subjects.filters import AccountFilterSet
from subjects.models import Account
from subjects.services import account_delete, account_save


class AccountSerializer(ModelSerializer):
    class Meta:
        model = Account
        fields = ["id", "name", "processes_data", "created_at", "updated_at"]

    def create(self, validated_data):
        account = Account(**validated_data)
        return account_save(account=account, user=self.context["request"].user, source=Source.API)

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return account_save(account=instance, user=self.context["request"].user, source=Source.API)


@extend_schema_view(
    destroy=extend_schema(
        description="Delete an account that no contact belongs to (409 otherwise). Needs "
        "`subjects.delete_account`, which no staff role has by default."
    )
)
class AccountViewSet(viewsets.ModelViewSet):
    """Accounts (companies): full CRUD.

    DELETE is allowed, unlike for leads and contacts (which are anonymized, never deleted):
    an account is not a person. It needs the `subjects.delete_account` permission — no role
    has it by default — and is refused with 409 while any contact belongs to the account.
    """

    queryset = Account.objects.all()
    serializer_class = AccountSerializer
    filterset_class = AccountFilterSet

    conflict_codes = frozenset({"invalid_state"})

    def perform_destroy(self, instance):
        account_delete(account=instance, user=self.request.user, source=Source.API)
