"""Deploy checks (`manage.py check --deploy`) for the secrets and services this app adds.

Django's own deploy checks cover SECRET_KEY, cookies, HSTS and the like; these cover the
suppression hash key, the preference-link keys and the e-mail backend (issue 15 #20, #22).
"""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

MIN_KEY_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10
# Backends that never deliver: they print, keep or drop every mail (and its links).
UNDELIVERED_BACKENDS = (
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
)


def weak(key: str) -> bool:
    """Too short, too repetitive, or a copy of SECRET_KEY."""
    return (
        len(key) < MIN_KEY_LENGTH
        or len(set(key)) < MIN_DISTINCT_CHARACTERS
        or key == settings.SECRET_KEY
    )


@register(Tags.security, deploy=True)
def check_suppression_hash_key(app_configs=None, **kwargs):
    if weak(settings.SUPPRESSION_HASH_KEY):
        return [
            Error(
                "SUPPRESSION_HASH_KEY is weak: it must be at least "
                f"{MIN_KEY_LENGTH} random characters and differ from SECRET_KEY.",
                hint="Generate one, e.g. `python -c 'import secrets; "
                "print(secrets.token_urlsafe(50))'`. Set it before the first erasure: existing "
                "suppressions only match with the key that made them.",
                id="consent_crm.E001",
            )
        ]
    return []


@register(Tags.security, deploy=True)
def check_preference_link_keys(app_configs=None, **kwargs):
    keys = [key for key in settings.PREFERENCE_LINK_KEYS if key]
    if not keys:
        return [
            Error(
                "PREFERENCE_LINK_KEYS is not set: preference-center links are encrypted with a "
                "key derived from SECRET_KEY.",
                hint="Set PREFERENCE_LINK_KEYS to one or more (comma-separated, newest first) "
                f"random keys of at least {MIN_KEY_LENGTH} characters, apart from SECRET_KEY.",
                id="consent_crm.E002",
            )
        ]
    if any(weak(key) for key in keys):
        return [
            Error(
                "A key in PREFERENCE_LINK_KEYS is weak: each must be at least "
                f"{MIN_KEY_LENGTH} random characters and differ from SECRET_KEY.",
                id="consent_crm.E003",
            )
        ]
    if len(set(keys)) != len(keys):
        return [Warning("PREFERENCE_LINK_KEYS lists a key twice.", id="consent_crm.W004")]
    return []


@register(Tags.security, deploy=True)
def check_email_backend(app_configs=None, **kwargs):
    if not settings.DEBUG and settings.EMAIL_BACKEND in UNDELIVERED_BACKENDS:
        return [
            Error(
                f"EMAIL_BACKEND is {settings.EMAIL_BACKEND} with DEBUG off: preference-center "
                "links would be printed or dropped instead of sent.",
                hint="Set EMAIL_URL to your mail server, e.g. smtp+tls://user:pass@host:587.",
                id="consent_crm.E005",
            )
        ]
    return []
