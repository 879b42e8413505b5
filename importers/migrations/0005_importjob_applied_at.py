from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("importers", "0004_api_tokens"),
    ]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="applied_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
