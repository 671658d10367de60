from django.db import migrations

from consent.roles import sync_roles


class Migration(migrations.Migration):
    """Grants DPO the notice permissions (sync_roles only adds)."""

    dependencies = [
        ("consent", "0019_notices"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
