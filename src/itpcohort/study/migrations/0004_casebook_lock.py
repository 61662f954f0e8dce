# ruff: noqa: RUF012
"""The signed casebook's lock in the database, and the "proposed" status of data queries.

While a patient has a valid signature (``study_signature.revoked_at`` null), a
trigger on every table of the patient's casebook refuses INSERT and UPDATE of
that patient's rows (the patient row itself, identifying data, treatments,
labs, bleeding, adverse events), whatever code path writes: the app checks
first and says so in words (``signoff``); this is the last line of defence.
One statement-level trigger per table and operation (transition tables: one
query per statement, so bulk imports stay fast). DELETE is refused already.
"""

from django.db import migrations, models

#: the casebook's tables keyed on the patient (the patient row is keyed on its id)
PATIENT_TABLES = (
    "study_patientidentity",
    "study_treatment",
    "study_lab",
    "study_bleeding",
    "study_adverseevent",
)
MESSAGE = (
    "the casebook of patient % is signed and locked: an investigator or an administrator "
    "must unlock it, with a reason, before any change"
)


def _function(name: str, key: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    locked text;
BEGIN
    SELECT p.patient_id INTO locked FROM study_signature s
    JOIN study_patient p ON p.id = s.patient_id
    WHERE s.revoked_at IS NULL AND s.patient_id IN (SELECT n.{key} FROM new_rows n) LIMIT 1;
    IF locked IS NULL AND TG_OP = 'UPDATE' THEN
        SELECT p.patient_id INTO locked FROM study_signature s
        JOIN study_patient p ON p.id = s.patient_id
        WHERE s.revoked_at IS NULL AND s.patient_id IN (SELECT o.{key} FROM old_rows o) LIMIT 1;
    END IF;
    IF locked IS NOT NULL THEN
        RAISE EXCEPTION '{MESSAGE}', locked USING ERRCODE = 'P0001';
    END IF;
    RETURN NULL;
END $$;
"""


def _triggers(table: str, function: str, operations: tuple[str, ...]) -> str:
    out = []
    for op in operations:
        refs = "NEW TABLE AS new_rows" + (" OLD TABLE AS old_rows" if op == "UPDATE" else "")
        out.append(
            f"CREATE TRIGGER casebook_lock_{op.lower()} AFTER {op} ON {table} "
            f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION {function}();"
        )
    return "\n".join(out)


FORWARD = "\n".join(
    [
        _function("study_casebook_lock", "patient_id"),
        _function("study_casebook_lock_patient", "id"),
        *(_triggers(t, "study_casebook_lock", ("INSERT", "UPDATE")) for t in PATIENT_TABLES),
        _triggers("study_patient", "study_casebook_lock_patient", ("UPDATE",)),
    ]
)
BACKWARD = "\n".join(
    [
        *(
            f"DROP TRIGGER IF EXISTS casebook_lock_{op} ON {t};"
            for t in PATIENT_TABLES
            for op in ("insert", "update")
        ),
        "DROP TRIGGER IF EXISTS casebook_lock_update ON study_patient;",
        "DROP FUNCTION IF EXISTS study_casebook_lock();",
        "DROP FUNCTION IF EXISTS study_casebook_lock_patient();",
    ]
)
STATUSES = [
    ("proposed", "Proposed by an edit check (awaiting a monitor)"),
    ("open", "Open"),
    ("answered", "Answered"),
    ("closed", "Closed"),
    ("dismissed", "Dismissed"),
]


class Migration(migrations.Migration):
    dependencies = [("study", "0003_monitoring")]

    operations = [
        migrations.AlterField(
            model_name="dataquery",
            name="status",
            field=models.CharField(choices=STATUSES, default="open", max_length=20),
        ),
        migrations.AlterField(
            model_name="dataqueryevent",
            name="status",
            field=models.CharField(choices=STATUSES, default="open", max_length=20),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
