"""`manage.py seed_demo [--contacts N]`: the demo data set (see `demo.seed`)."""

from django.core.management.base import BaseCommand

from demo.seed import DemoSeeder
from subjects.models import Contact


class Command(BaseCommand):
    help = (
        "Create realistic demo data: accounts, leads, contacts, data consents, contact-point "
        "consents and marketing lists in every state, with history (fast at 1M contacts on "
        "PostgreSQL)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=2000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when contacts already exist."
        )

    def handle(self, *args, contacts, seed, if_empty, verbosity, **options):
        if if_empty and Contact.objects.exists():
            self.stdout.write("Demo data already present; nothing to do.")
            return
        seeder = DemoSeeder(say=self.stdout.write)
        summary = seeder.seed(contacts=contacts, seed=seed, progress=verbosity >= 1)
        self.stdout.write(self.style.SUCCESS(summary))
