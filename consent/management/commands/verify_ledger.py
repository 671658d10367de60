import json

from django.core.management.base import BaseCommand, CommandError

from consent.ledger.chain import ledger_seal_backlog
from consent.ledger.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Verify the consent ledger: recompute every entry's hash and every sealed history row's "
        "digest. Prints the result as JSON; exits non-zero when the chain is broken."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--seal-backlog",
            action="store_true",
            help="First seal the history rows no entry seals yet (history written before the "
            "ledger existed: run once after upgrading).",
        )

    def handle(self, *args, seal_backlog=False, **options):
        if seal_backlog:
            self.stderr.write(f"Sealed {ledger_seal_backlog()} history row(s).")
        result = ledger_verify()
        self.stdout.write(json.dumps(result))
        if not result["ok"]:
            raise CommandError(
                f"The consent ledger is broken at entry {result['first_bad_entry']}."
            )
