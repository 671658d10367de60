from django.core.management.base import BaseCommand

from consent.services import data_consents_expire


class Command(BaseCommand):
    help = "Expire active data consents whose valid_until has passed (the daily sweep)."

    def handle(self, *args, **options):
        count = data_consents_expire()
        self.stdout.write(f"Expired {count} data consent(s).")
