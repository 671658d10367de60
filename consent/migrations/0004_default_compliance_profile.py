"""A fresh install has a default compliance profile with its three purposes (DESIGN §3.3)."""

from django.db import migrations

DEFAULT_SLUG = "default"
DEFAULT_PURPOSES = [
    # (name, kind, consent_model, required_level)
    ("Commercial", "commercial", "restrictive", 4),
    ("Transactional", "transactional", "disabled", 2),
    ("Tracking", "tracking", "restrictive", 5),
]


def create_default_profile(apps, schema_editor):
    profile_model = apps.get_model("consent", "ComplianceProfile")
    purpose_model = apps.get_model("consent", "Purpose")
    if profile_model.objects.filter(is_default=True).exists():
        return
    profile = profile_model.objects.create(name="Default", slug=DEFAULT_SLUG, is_default=True)
    for name, kind, consent_model, required_level in DEFAULT_PURPOSES:
        purpose_model.objects.create(
            profile=profile,
            name=name,
            kind=kind,
            consent_model=consent_model,
            required_level=required_level,
        )


def delete_default_profile(apps, schema_editor):
    # Purposes cascade; a profile already holding consents is protected and stops the rollback.
    apps.get_model("consent", "ComplianceProfile").objects.filter(slug=DEFAULT_SLUG).delete()


class Migration(migrations.Migration):
    dependencies = [("consent", "0003_contact_points")]

    operations = [migrations.RunPython(create_default_profile, delete_default_profile)]
