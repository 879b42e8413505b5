from django.db import migrations


class Migration(migrations.Migration):
    """The transaction that made each change (xid8), so that readers can order changes by commit.

    Serial ids are handed out before commit and commit out of order; a tile rendered under a snapshot
    must be re-rendered for any change whose transaction was not visible to it. Every transaction
    still running when a snapshot was taken has an xid >= the snapshot's xmin, so "xid >= xmin" finds
    every change a render could have missed (and, rarely, one it did see).
    """

    dependencies = [("layers", "0003_change_events")]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE layers_changeevent ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();"
            "CREATE INDEX changeevent_xid ON layers_changeevent (xid);",
            reverse_sql="ALTER TABLE layers_changeevent DROP COLUMN xid;",
        ),
    ]
