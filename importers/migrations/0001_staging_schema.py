from django.db import migrations


class Migration(migrations.Migration):
    """The schema where ogr2ogr stages deliveries before validation (its own connection must see it)."""

    dependencies = [("layers", "0001_initial")]

    operations = [
        migrations.RunSQL("CREATE SCHEMA IF NOT EXISTS staging", reverse_sql="DROP SCHEMA IF EXISTS staging CASCADE"),
    ]
