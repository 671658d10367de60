from django.core.management.base import BaseCommand

from consent.services.contact_points import contact_point_consents_expire
from consent.services.data_consents import data_consents_expire


class Command(BaseCommand):
    help = (
        "The daily sweep: expire data consents past valid_until and contact-point opt-ins past "
        "expires_at. Idempotent."
    )

    def handle(self, *args, **options):
        count = data_consents_expire()
        self.stdout.write(f"Expired {count} data consent(s).")
        count = contact_point_consents_expire()
        self.stdout.write(f"Expired {count} contact-point opt-in(s).")
