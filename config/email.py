"""EMAIL_URL → Django e-mail settings: an e-mail service provider's scheme (`sendgrid://KEY`,
`postmark://TOKEN`, …) selects django-anymail's backend for it; any other URL (smtp://,
consolemail://, …) is parsed by django-environ as before."""

from urllib.parse import parse_qsl, unquote, urlsplit

import environ

# scheme → (anymail backend module, the anymail setting the URL's key fills)
ESP_BACKENDS = {
    "sendgrid": ("sendgrid", "SENDGRID_API_KEY"),
    "postmark": ("postmark", "POSTMARK_SERVER_TOKEN"),
    "mailgun": ("mailgun", "MAILGUN_API_KEY"),
    "brevo": ("brevo", "BREVO_API_KEY"),
    "sparkpost": ("sparkpost", "SPARKPOST_API_KEY"),
    "mailjet": ("mailjet", "MAILJET_API_KEY"),
    "mandrill": ("mandrill", "MANDRILL_API_KEY"),
    "resend": ("resend", "RESEND_API_KEY"),
    "amazonses": ("amazon_ses", None),
    "amazon-ses": ("amazon_ses", None),
}


def email_settings(url: str) -> tuple[dict, dict]:
    """(Django e-mail settings, anymail settings) for EMAIL_URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ESP_BACKENDS:
        return environ.Env.email_url_config(url), {}
    module, key_setting = ESP_BACKENDS[scheme]
    anymail: dict = {}
    # From the raw netloc: API keys are case-sensitive (`hostname` would lower-case them).
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    user, password = unquote(user), unquote(password)
    if key_setting:
        anymail[key_setting] = user or unquote(host)
    if scheme == "mailjet" and password:
        anymail["MAILJET_SECRET_KEY"] = password
    if scheme == "mailgun" and host and user:
        anymail["MAILGUN_API_URL"] = f"https://{host}/v3"
    query = dict(parse_qsl(parts.query))
    if module == "amazon_ses" and "region" in query:
        anymail["AMAZON_SES_CLIENT_PARAMS"] = {"region_name": query["region"]}
    return {"EMAIL_BACKEND": f"anymail.backends.{module}.EmailBackend"}, anymail
