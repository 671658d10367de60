"""Development only: an admin and one user per role, with a fresh password printed."""

import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from consent.roles import DPO, MARKETING, SERVICE_DESK

DEMO_USERS = [
    ("admin", None),
    ("dpo", DPO),
    ("marketing", MARKETING),
    ("servicedesk", SERVICE_DESK),
]


class Command(BaseCommand):
    help = "Create (or reset) the demo logins and print them. Refused unless DEBUG is on."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("ensure_demo_users only runs with DEBUG=true (development).")
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        for username, role in DEMO_USERS:
            user, _ = user_model.objects.get_or_create(username=username)
            user.is_staff = True
            user.is_superuser = role is None
            user.set_password(password)
            user.save()
            if role:
                user.groups.set([Group.objects.get(name=role)])
        self.stdout.write(
            self.style.SUCCESS(
                "\n  Admin login: http://127.0.0.1:8000/admin/\n"
                f"  user: admin   password: {password}\n"
                f"  (role users dpo, marketing, servicedesk share that password)\n"
            )
        )
