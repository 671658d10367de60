from django.db import migrations

from consent.roles import sync_roles


class Migration(migrations.Migration):
    """Grants every role the view of its bulk-action jobs (sync_roles only adds)."""

    dependencies = [
        ("consent", "0012_h10_bulk_action"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(sync_roles, migrations.RunPython.noop)]
