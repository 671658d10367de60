from consent.models.data_consent import (
    ConsentLevelSubstatus,
    DataConsent,
    DataPolicy,
    ErasureRecord,
)
from subjects.models import ConsentLevel

__all__ = [
    "ConsentLevel",
    "ConsentLevelSubstatus",
    "DataConsent",
    "DataPolicy",
    "ErasureRecord",
]
