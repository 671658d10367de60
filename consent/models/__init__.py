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
from consent.models.load import ConsentLoad, ConsentLoadChunk
from consent.models.requests import DataSubjectRequest
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
    "DashboardFigure",
    "DataConsent",
    "DataPolicy",
    "DataSubjectRequest",
    "ErasureRecord",
    "Purpose",
    "Suppression",
    "Topic",
]
