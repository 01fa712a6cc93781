from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("learn", "0003_claim"),
    ]

    operations = [
        migrations.CreateModel(
            name="Signup",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("address", models.CharField(max_length=45)),
                ("created_at", models.DateTimeField()),
            ],
            options={
                "indexes": [models.Index(fields=["address", "created_at"], name="learn_signu_address_358440_idx")],
            },
        ),
    ]
