from django.db import migrations

from consent.roles import sync_roles


class Migration(migrations.Migration):
    """Grants the roles their permissions on the contact-point models (sync_roles only adds)."""

    dependencies = [
        ("consent", "0004_default_compliance_profile"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
