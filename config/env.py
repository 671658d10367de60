"""Parsers of the environment variables that are more than a plain string, list or number."""

from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def proxy_ssl_header(raw: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from "HTTP_X_FORWARDED_PROTO,https" (empty: None, not behind a
    TLS-terminating proxy)."""
    if not raw.strip():
        return None
    name, _, value = (part.strip() for part in raw.partition(","))
    if not name.startswith("HTTP_") or not value or "," in value:
        raise ImproperlyConfigured(
            "SECURE_PROXY_SSL_HEADER must look like HTTP_X_FORWARDED_PROTO,https "
            "(the header in Django's META spelling, a comma, the value that means HTTPS)."
        )
    return name, value


def origin(url: str) -> str:
    """The origin (scheme://host[:port]) of a URL, as CSRF_TRUSTED_ORIGINS lists them."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
