import json

from django.core.management.base import BaseCommand, CommandError

from consent.ledger.verify import ledger_verify


class Command(BaseCommand):
    help = (
        "Verify the consent ledger: recompute every entry's hash and every sealed history row's "
        "digest. Prints the result as JSON; exits non-zero when the chain is broken."
    )

    def handle(self, *args, **options):
        result = ledger_verify()
        self.stdout.write(json.dumps(result))
        if not result["ok"]:
            raise CommandError(
                f"The consent ledger is broken at entry {result['first_bad_entry']}."
            )
