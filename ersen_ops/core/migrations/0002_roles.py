"""Creates the four roles. Their permissions are (re)applied after every migrate by
ersen_ops.core.apps, once every app has created its permissions."""

from django.db import migrations


def create_roles(apps, schema_editor):
    from ersen_ops.core.roles import ROLE_PERMISSIONS

    Group = apps.get_model("auth", "Group")
    for role in ROLE_PERMISSIONS:
        Group.objects.using(schema_editor.connection.alias).get_or_create(name=role)


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
