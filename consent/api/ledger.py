"""`GET /api/v1/ledger/verify/` (DESIGN §4): the DPO verifies the consent ledger."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from consent.ledger.verify import ledger_verify


class CanVerifyLedger(permissions.BasePermission):
    def has_permission(self, request, view):
        return request.user.has_perm("consent.verify_ledger")


class LedgerVerifyView(APIView):
    permission_classes = [permissions.IsAuthenticated, CanVerifyLedger]

    @extend_schema(
        responses=inline_serializer(
            "LedgerVerification",
            {
                "ok": serializers.BooleanField(),
                "entries": serializers.IntegerField(help_text="Entries verified."),
                "head": serializers.DictField(help_text="`sequence` and `hash` of the head."),
                "first_bad_entry": serializers.IntegerField(
                    allow_null=True, help_text="Sequence of the first entry that fails."
                ),
            },
        )
    )
    def get(self, request):
        return Response(ledger_verify())
