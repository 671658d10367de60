"""`manage.py load_consent FILE [--profile SLUG] [--mode reject|skip] [--dry-run]
[--from-subjects]` — the consent load of DESIGN §3.8, run in this process."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from consent.loads.runner import consent_load_create, consent_load_run
from consent.models import ComplianceProfile, ConsentLoad


class Command(BaseCommand):
    help = (
        "Load contact-point consent from a CSV file (header: channel,value,purpose,topic,status,"
        "source,reason,captured_at,requested_by), or build it from the subjects' preferences and "
        "subscription lists with --from-subjects. Prints the report; exits non-zero when the "
        "load is refused."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="The CSV file (UTF-8, with or without BOM).")
        parser.add_argument("--profile", help="Compliance profile slug (default: the default).")
        parser.add_argument(
            "--mode",
            choices=ConsentLoad.Mode.values,
            default=ConsentLoad.Mode.REJECT,
            help="reject: any invalid row and nothing is written (default); "
            "skip: write the valid rows.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Report what would change; write nothing."
        )
        parser.add_argument(
            "--from-subjects",
            action="store_true",
            help="Migration mode: build consent from subject preferences and subscription lists.",
        )
        parser.add_argument("--user", help="Username recorded as the author of every change.")

    def handle(self, *args, **options):
        if not options["file"] and not options["from_subjects"]:
            raise CommandError("Give a FILE to load, or --from-subjects.")
        load = self._create(options)
        load = consent_load_run(load=load)
        self._report(load)
        if load.status == ConsentLoad.Status.FAILED:
            raise CommandError(load.message)

    def _create(self, options) -> ConsentLoad:
        settings = {
            "profile": self._profile(options["profile"]),
            "mode": options["mode"],
            "dry_run": options["dry_run"],
            "user": self._user(options["user"]),
            "dispatch": False,  # run here, not on a worker
        }
        try:
            if options["from_subjects"] and not options["file"]:
                return consent_load_create(from_subjects=True, **settings)
            path = Path(options["file"])
            with path.open("rb") as file:
                return consent_load_create(
                    file=file,
                    file_name=path.name,
                    from_subjects=options["from_subjects"],
                    **settings,
                )
        except FileNotFoundError:
            raise CommandError(f"No such file: {options['file']}") from None
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc.strerror}") from None
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None

    def _profile(self, slug: str | None) -> ComplianceProfile:
        profiles = ComplianceProfile.objects
        try:
            return profiles.get(slug=slug) if slug else profiles.default()
        except ComplianceProfile.DoesNotExist:
            raise CommandError(f"No compliance profile with slug {slug!r}.") from None

    def _user(self, username: str | None):
        if not username:
            return None
        user_model = get_user_model()
        try:
            return user_model.objects.get(**{user_model.USERNAME_FIELD: username})
        except user_model.DoesNotExist:
            raise CommandError(f"No user {username!r}.") from None

    def _report(self, load: ConsentLoad) -> None:
        what = "migration from subjects" if load.from_subjects else load.file_name
        mode = f"mode {load.mode}" + (", dry run" if load.dry_run else "")
        self.stdout.write(f"Consent load #{load.pk} ({what}, {mode}): {load.status}")
        for _code, label, value in load.count_rows():
            self.stdout.write(f"  {label}: {value:,}")
        if load.row_errors:
            shown, total = len(load.row_errors), load.row_errors_total
            self.stdout.write(f"Rows not loaded ({shown:,} of {total:,} shown):")
            for entry in load.row_errors:
                where = f"line {entry['line']}" if entry["line"] else "subjects"
                column = f", {entry['column']}" if entry["column"] else ""
                self.stdout.write(f"  {where}{column}: {entry['message']}")
        if load.message:
            self.stdout.write(load.message)
