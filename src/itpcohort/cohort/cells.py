"""SQL that types one source column and finds the cells that do not type.

Dates are ISO 8601 calendar dates; a time part after ``T`` or a space is
dropped. Booleans accept true/false, yes/no, 1/0, y/n in any case. Empty
cells are missing values (``shared/spec/cohort-format.md``).
"""

from __future__ import annotations

from itpcohort.cohort.schema import ColumnSpec

TRUE_WORDS = ("true", "yes", "1", "y")
FALSE_WORDS = ("false", "no", "0", "n")
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")
_ISO_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ].*)?"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def raw_text(column: str) -> str:
    """The cell as trimmed text, NULL when empty."""
    return f"NULLIF(TRIM(CAST({quote(column)} AS VARCHAR)), '')"


def typed_expr(spec: ColumnSpec, source_type: str) -> tuple[str, bool]:
    """(SQL giving the typed value, whether typing can fail and needs a check)."""
    col = quote(spec.name)
    raw = raw_text(spec.name)
    is_numeric = source_type.startswith(_NUMERIC)
    if spec.kind == "text":
        return raw, False
    if spec.kind == "date":
        if source_type == "DATE":
            return col, False
        if source_type.startswith("TIMESTAMP"):
            return f"CAST({col} AS DATE)", False
        return (
            f"CASE WHEN regexp_full_match({raw}, '{_ISO_DATE}') "
            f"THEN TRY_CAST(LEFT({raw}, 10) AS DATE) END",
            True,
        )
    if spec.kind in ("number", "integer"):
        number = (
            f"CAST({col} AS DOUBLE)"
            if is_numeric
            else f"CASE WHEN isfinite(TRY_CAST({raw} AS DOUBLE)) THEN TRY_CAST({raw} AS DOUBLE) END"
        )
        if spec.kind == "integer":
            return f"CASE WHEN {number} = floor({number}) THEN CAST({number} AS BIGINT) END", True
        return number, not is_numeric
    if source_type == "BOOLEAN":
        return col, False
    words_true = ", ".join(f"'{w}'" for w in TRUE_WORDS)
    words_false = ", ".join(f"'{w}'" for w in FALSE_WORDS)
    return (
        f"CASE WHEN lower({raw}) IN ({words_true}) THEN TRUE "
        f"WHEN lower({raw}) IN ({words_false}) THEN FALSE END",
        True,
    )


def unparseable_message(spec: ColumnSpec) -> str:
    """SQL string expression: why the raw cell did not type, with its value."""
    raw = raw_text(spec.name)
    hint = {
        "date": "' is not a date: write it as YYYY-MM-DD'",
        "number": "' is not a number'",
        "integer": "' is not a whole number'",
        "boolean": "' is not a yes/no value: use true/false, yes/no, 1/0 or y/n'",
    }[spec.kind]
    return f"'''' || {raw} || '''' || {hint}"
