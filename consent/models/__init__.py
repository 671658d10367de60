from consent.models.bulk_action import BulkAction
from consent.models.catalog import CatalogStamp
from consent.models.contact_point import (
    OPT_IN_CHANNELS,
    Channel,
    ComplianceProfile,
    ContactPointConsent,
    Purpose,
    Suppression,
    Topic,
)
from consent.models.dashboard import DashboardFigure
from consent.models.data_consent import (
    ConsentLevelSubstatus,
    DataConsent,
    DataPolicy,
    ErasureRecord,
)
from consent.models.esp_feedback import EspFeedbackEvent
from consent.models.ledger import LedgerEntry, LedgerHead
from consent.models.load import ConsentLoad, ConsentLoadChunk
from consent.models.notices import Notice, NoticeLanguage
from consent.models.requests import DataSubjectRequest
from consent.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEventType
from subjects.models import ConsentLevel

__all__ = [
    "OPT_IN_CHANNELS",
    "BulkAction",
    "CatalogStamp",
    "Channel",
    "ComplianceProfile",
    "ConsentLevel",
    "ConsentLevelSubstatus",
    "ConsentLoad",
    "ConsentLoadChunk",
    "ContactPointConsent",
    "DashboardFigure",
    "DataConsent",
    "DataPolicy",
    "DataSubjectRequest",
    "ErasureRecord",
    "EspFeedbackEvent",
    "LedgerEntry",
    "LedgerHead",
    "Notice",
    "NoticeLanguage",
    "Purpose",
    "Suppression",
    "Topic",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEventType",
]
