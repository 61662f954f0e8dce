# ruff: noqa: RUF012
"""The database function that seals every audit row into the hash chain (see audit.py)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION study_audit_append(tbl text, rec anyelement) RETURNS void
LANGUAGE plpgsql SET timezone = 'UTC' SET extra_float_digits = 1 AS $$
DECLARE
    payload jsonb := to_jsonb(rec);
    last_seq bigint;
    last_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(7354001);
    SELECT seq, hash INTO last_seq, last_hash FROM study_auditlink ORDER BY seq DESC LIMIT 1;
    last_hash := coalesce(last_hash, repeat('0', 64));
    INSERT INTO study_auditlink (seq, table_name, row_id, prev_hash, hash)
    VALUES (coalesce(last_seq, 0) + 1, tbl,
            coalesce(payload ->> 'pgh_id', payload ->> 'id')::bigint, last_hash,
            encode(sha256(convert_to(last_hash || payload::text, 'UTF8')), 'hex'));
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("study", "0001_initial")]

    operations = [
        migrations.RunSQL(SQL, reverse_sql="DROP FUNCTION study_audit_append(text, anyelement);"),
    ]
