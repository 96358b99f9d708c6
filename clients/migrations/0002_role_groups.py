from django.db import migrations


def create_role_groups(apps, schema_editor):
    # The groups exist from the start; their permissions are synced after every migrate
    # (clients.roles.sync_role_groups) because other apps' permissions are created later.
    Group = apps.get_model("auth", "Group")
    for name in ("Agent", "Supervisor"):
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("clients", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_role_groups, migrations.RunPython.noop)]
