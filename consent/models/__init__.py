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
from subjects.models import ConsentLevel

__all__ = [
    "OPT_IN_CHANNELS",
    "Channel",
    "ComplianceProfile",
    "ConsentLevel",
    "ConsentLevelSubstatus",
    "ContactPointConsent",
    "DataConsent",
    "DataPolicy",
    "ErasureRecord",
    "Purpose",
    "Suppression",
    "Topic",
]
