"""The Celery app. Broker from CELERY_BROKER_URL (Redis in production); with none configured,
tasks run eagerly in-process so `make run` needs nothing else."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("consent_crm", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
