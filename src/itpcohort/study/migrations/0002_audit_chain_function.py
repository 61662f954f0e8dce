# ruff: noqa: RUF012
"""The database function that seals new audit rows into the hash chain (see audit.py)."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION study_audit_append(tbl text, rows anyarray) RETURNS void
LANGUAGE plpgsql SET timezone = 'UTC' SET extra_float_digits = 1 AS $$
DECLARE
    payload jsonb;
    last_seq bigint;
    prev text;
    seqs bigint[] := '{}';
    ids bigint[] := '{}';
    prevs text[] := '{}';
    hashes text[] := '{}';
BEGIN
    IF rows IS NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(7354001);
    SELECT l.seq, l.hash INTO last_seq, prev FROM study_auditlink l ORDER BY l.seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0);
    prev := coalesce(prev, repeat('0', 64));
    FOR payload IN
        SELECT to_jsonb(x) FROM unnest(rows) x
        ORDER BY coalesce(to_jsonb(x) ->> 'pgh_id', to_jsonb(x) ->> 'id')::bigint
    LOOP
        last_seq := last_seq + 1;
        seqs := seqs || last_seq;
        ids := ids || coalesce(payload ->> 'pgh_id', payload ->> 'id')::bigint;
        prevs := prevs || prev;
        prev := encode(sha256(convert_to(prev || payload::text, 'UTF8')), 'hex');
        hashes := hashes || prev;
    END LOOP;
    INSERT INTO study_auditlink (seq, table_name, row_id, prev_hash, hash)
    SELECT s, tbl, i, p, h FROM unnest(seqs, ids, prevs, hashes) AS u(s, i, p, h);
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("study", "0001_initial")]

    operations = [
        migrations.RunSQL(SQL, reverse_sql="DROP FUNCTION study_audit_append(text, anyarray);"),
    ]
