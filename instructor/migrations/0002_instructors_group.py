"""The "instructors" group, so that the admin can offer it and grant_instructor finds it."""

from django.db import migrations

GROUP = "instructors"  # instructor.models.INSTRUCTORS_GROUP, frozen here as migrations must be


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=GROUP)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("instructor", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
