"""Outbound webhooks (DESIGN §3.10): the outbox the services write (`events`), the SSRF guard
(`targets`) and the delivery a Celery task runs after commit (`delivery`). See
docs/integrations.md."""
