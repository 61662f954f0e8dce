"""SQL that types one source column and finds the cells that do not type.

Dates are ISO 8601 calendar dates; a *valid* time part after ``T`` or a space
(``HH:MM``, ``HH:MM:SS``, optional fraction and ``Z`` or ``+HH:MM`` offset) is
dropped; any other text after the date is an error, not ignored. A Parquet
timestamp with a time zone takes its date in that zone (an instant without a
named zone, in UTC), never in the machine's zone. Numbers are plain decimals
(``12``, ``-0.5``, ``1e3``): DuckDB's extras (``2_5`` read as 25), ``NaN`` and
infinities are errors, in text and in Parquet alike. Booleans accept
true/false, yes/no, 1/0, y/n in any case. Empty cells are missing values
(``shared/spec/cohort-format.md``).
"""

from __future__ import annotations

import re

from itpcohort.cohort.schema import ColumnSpec

TRUE_WORDS = ("true", "yes", "1", "y")
FALSE_WORDS = ("false", "no", "0", "n")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_NUMERIC_U = ("UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT")
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME = (
    r"[T ]([01][0-9]|2[0-3]):[0-5][0-9](:([0-5][0-9]|60)([.,][0-9]+)?)?"
    r" ?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?"
)
_ISO_DATE = f"{_DATE}({_TIME})?"
#: a plain decimal number (no underscores, no hex, no NaN or infinity)
_PLAIN_NUMBER = r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?"
#: the longest value shown in a message; longer ones end in an ellipsis
SHOWN_CHARS = 80
_FIXED_OFFSET = re.compile(r"([+-])([0-9]{2}):?([0-9]{2})")


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def raw_text(column: str) -> str:
    """The cell as trimmed text, NULL when empty."""
    return f"NULLIF(TRIM(CAST({quote(column)} AS VARCHAR)), '')"


def shown(expr: str) -> str:
    """SQL: the text ``expr`` as shown in a message (at most :data:`SHOWN_CHARS` characters)."""
    return (
        f"CASE WHEN length({expr}) > {SHOWN_CHARS} THEN left({expr}, {SHOWN_CHARS}) || '…' "
        f"ELSE {expr} END"
    )


def is_numeric(source_type: str) -> bool:
    return source_type.startswith(_NUMERIC) or source_type.startswith(_NUMERIC_U)


def typed_expr(spec: ColumnSpec, source_type: str, zone: str | None = None) -> tuple[str, bool]:
    """(SQL giving the typed value, whether typing can fail and needs a check).

    ``zone`` is the time zone of a Parquet timestamp column (``timestamp[tz]``).
    """
    col = quote(spec.name)
    raw = raw_text(spec.name)
    numeric = is_numeric(source_type)
    if spec.kind == "text":
        return raw, False
    if spec.kind == "date":
        if source_type == "DATE":
            return col, False
        if source_type.startswith("TIMESTAMP"):
            return _timestamp_date(col, source_type, zone), False
        return (
            f"CASE WHEN regexp_full_match({raw}, '{_ISO_DATE}') "
            f"THEN TRY_CAST(LEFT({raw}, 10) AS DATE) END",
            True,
        )
    if spec.kind in ("number", "integer"):
        if numeric:
            number = f"CASE WHEN isfinite(CAST({col} AS DOUBLE)) THEN CAST({col} AS DOUBLE) END"
        else:
            number = (
                f"CASE WHEN regexp_full_match({raw}, '{_PLAIN_NUMBER}') "
                f"AND isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END"
            )
        if spec.kind == "integer":
            return (
                f"CASE WHEN {number} = floor({number}) AND abs({number}) < 1e15 "
                f"THEN CAST({number} AS BIGINT) END",
                True,
            )
        return number, True
    if source_type == "BOOLEAN":
        return col, False
    words_true = ", ".join(f"'{w}'" for w in TRUE_WORDS)
    words_false = ", ".join(f"'{w}'" for w in FALSE_WORDS)
    return (
        f"CASE WHEN lower({raw}) IN ({words_true}) THEN TRUE "
        f"WHEN lower({raw}) IN ({words_false}) THEN FALSE END",
        True,
    )


def _timestamp_date(col: str, source_type: str, zone: str | None) -> str:
    """SQL: the calendar date of a timestamp, independent of the machine's time zone.

    A timestamp without a zone is a wall-clock time: its own date. One with a
    zone is an instant: its date in that zone (a fixed offset like ``+08:00``
    is applied as such; without a usable zone name, UTC).
    """
    if "WITH TIME ZONE" not in source_type and not source_type.startswith("TIMESTAMPTZ"):
        return f"CAST({col} AS DATE)"
    utc = f"timezone('UTC', {col})"
    offset = _FIXED_OFFSET.fullmatch(zone or "")
    if offset is not None:
        sign, hours, minutes = offset.groups()
        total = (int(hours) * 60 + int(minutes)) * (1 if sign == "+" else -1)
        return f"CAST({utc} + INTERVAL ({total}) MINUTE AS DATE)"
    if zone:
        return f"CAST(timezone({literal(zone)}, {col}) AS DATE)"
    return f"CAST({utc} AS DATE)"


def unparseable_message(spec: ColumnSpec) -> str:
    """SQL string expression: why the raw cell did not type, with its value."""
    raw = raw_text(spec.name)
    value = f"'''' || {shown(raw)} || ''''"
    if spec.kind == "date":
        return (
            f"{value} || CASE WHEN TRY_CAST(LEFT({raw}, 10) AS DATE) IS NOT NULL "
            f"AND regexp_matches({raw}, '^{_DATE}') THEN ' is not a date: only a date "
            "(YYYY-MM-DD), optionally followed by a valid time (THH:MM:SS), is read; remove "
            "the text after the date' ELSE ' is not a date: write it as YYYY-MM-DD' END"
        )
    if spec.kind in ("number", "integer"):
        what = "a number" if spec.kind == "number" else "a whole number"
        return (
            f"{value} || ' is not {what}' || CASE "
            f"WHEN regexp_matches({raw}, '^[+-]?[0-9]+(_[0-9]+)+') "
            "THEN ': remove the underscores' "
            f"WHEN regexp_full_match({raw}, '[+-]?[0-9]+,[0-9]+') "
            "THEN ': use a point as the decimal separator' "
            f"WHEN regexp_matches(lower({raw}), '^[+-]?(nan|inf)') "
            "THEN ': not-a-number and infinite values are not measurements' "
            f"WHEN regexp_full_match({raw}, '{_PLAIN_NUMBER}') AND '{spec.kind}' = 'integer' "
            "AND isfinite(TRY_CAST(" + raw + " AS DOUBLE)) THEN '' "
            "WHEN isfinite(TRY_CAST(" + raw + " AS DOUBLE)) IS NOT DISTINCT FROM FALSE "
            "THEN ': too large' ELSE '' END"
        )
    return f"{value} || ' is not a yes/no value: use true/false, yes/no, 1/0 or y/n'"
