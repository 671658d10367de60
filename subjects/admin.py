from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from common.admin import LargeTableAdminMixin, ServiceAdminMixin, ServiceModelForm
from subjects.models import Account
from subjects.services import account_save, account_validate


class AccountForm(ServiceModelForm):
    class Meta:
        model = Account
        fields = ["name", "processes_data"]

    def validate(self, user):
        account_validate(account=self.instance, data=self.cleaned_data)

    def apply(self, user):
        for name, value in self.cleaned_data.items():
            setattr(self.instance, name, value)
        return account_save(account=self.instance, user=user)


@admin.register(Account)
class AccountAdmin(LargeTableAdminMixin, ServiceAdminMixin, SimpleHistoryAdmin):
    form = AccountForm
    list_display = ["name", "processes_data", "created_at"]
    list_filter = ["processes_data"]
    search_fields = ["name"]

    def has_delete_permission(self, request, obj=None):
        return False
