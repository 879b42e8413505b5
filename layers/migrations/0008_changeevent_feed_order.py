from django.db import migrations


class Migration(migrations.Migration):
    """Index the change events in the change feed's order, (xid, id) (layers/change_feed.py).

    An import writes all its events in one transaction, so a million events can share one xid: with
    only the xid indexed, each page of the feed would sort all of them again. The new index also
    serves the freshness checks' ``xid >= …`` (tiles/freshness.py), so it replaces the old one.
    """

    dependencies = [("layers", "0007_search_index")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX changeevent_xid_id ON layers_changeevent (xid, id); DROP INDEX changeevent_xid;",
            reverse_sql="CREATE INDEX changeevent_xid ON layers_changeevent (xid); DROP INDEX changeevent_xid_id;",
        ),
    ]
