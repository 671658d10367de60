from consent.models.contact_point import (
    OPT_IN_CHANNELS,
    Channel,
    ComplianceProfile,
    ContactPointConsent,
    Purpose,
    Suppression,
    Topic,
)
from consent.models.data_consent import (
    ConsentLevelSubstatus,
    DataConsent,
    DataPolicy,
    ErasureRecord,
)
from consent.models.esp_feedback import EspFeedbackEvent
from consent.models.load import ConsentLoad, ConsentLoadChunk
from consent.models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEventType
from subjects.models import ConsentLevel

__all__ = [
    "OPT_IN_CHANNELS",
    "Channel",
    "ComplianceProfile",
    "ConsentLevel",
    "ConsentLevelSubstatus",
    "ConsentLoad",
    "ConsentLoadChunk",
    "ContactPointConsent",
    "DataConsent",
    "DataPolicy",
    "ErasureRecord",
    "EspFeedbackEvent",
    "Purpose",
    "Suppression",
    "Topic",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEventType",
]
