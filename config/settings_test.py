"""Test settings: the real settings with a fast password hasher and deterministic keys."""

import os

os.environ.setdefault("DEBUG", "true")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SUPPRESSION_HASH_KEY = "test-suppression-key"
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = True
# Webhook receivers in tests listen on 127.0.0.1 (tests/consent/webhooks/).
WEBHOOK_ALLOW_PRIVATE_TARGETS = True
ANYMAIL = {**ANYMAIL, "WEBHOOK_SECRET": "esp-user:esp-password"}  # noqa: F405
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
# Every prepared query (the decision's hot path) is checked against the ORM's rows.
PREPARED_QUERY_VERIFY = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory: the Celery worker tests share the test database with a real worker.
    import tempfile

    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"consent-crm-test-{os.getpid()}.sqlite3")
    }

# A second alias on the same test database, as a replica would be (never created: a mirror).
# READ_REPLICA stays None, so nothing routes there unless a test turns it on
# (tests/common/test_replica.py).
DATABASES["replica"] = {  # noqa: F405
    **DATABASES["default"],  # noqa: F405
    "TEST": {**DATABASES["default"].get("TEST", {}), "MIRROR": "default"},  # noqa: F405
}

# django-axes stays on (tests/security checks the lockout), but the test client's `login()`
# calls authenticate() without a request, which its backend refuses: let such calls through.
AUTHENTICATION_BACKENDS = [
    "tests.security.backends.RequestlessLoginAxesBackend",
    *AUTHENTICATION_BACKENDS[1:],  # noqa: F405
]
