"""How numbers are printed in tables and text (summary.json keeps them unrounded or to
one decimal, as ``docs/summary-json.md`` says).

- p-values: ``p = 0.111`` (three decimals), ``p < 0.001``, ``p > 0.999``; never
  ``p = < 0.001`` or ``0.0``.
- ranges and intervals with an en dash (``68.2–89.4``), negative numbers with a
  minus sign (``−3.1``, U+2212: typographically right, and no spreadsheet reads
  a cell starting with it as a formula).
- a limit that is not reached prints as ``NR`` in an interval, "not reached"
  for an estimate.
"""

from __future__ import annotations

from collections.abc import Mapping

MINUS = "\u2212"
DASH = "\u2013"
GEQ = "\u2265"
LEQ = "\u2264"
PLATELET_UNIT = "\u00d710\u2079/L"  # x10^9/L


def number(value: float | None, digits: int = 1) -> str:
    """``value`` to ``digits`` decimals with a true minus sign; "–" when missing."""
    if value is None:
        return DASH
    text = f"{value:.{digits}f}"
    if text.startswith("-"):
        text = text[1:]
        return text if float(text) == 0 else MINUS + text
    return text


def p_value(p: float | None, prefix: bool = True) -> str:
    """``p = 0.111``, ``p < 0.001``, ``p > 0.999`` (without ``p`` when ``prefix`` is False)."""
    if p is None:
        return DASH
    if p < 0.001:
        text = "< 0.001"
    elif p > 0.999:
        text = "> 0.999"
    else:
        text = f"= {p:.3f}"
    if prefix:
        return f"p {text}"
    return text.removeprefix("= ").replace(" ", "\u2009")


def interval(low: float | None, high: float | None, digits: int = 1) -> str:
    """``68.2–89.4``; a missing upper limit is ``NR`` (not reached)."""
    if low is None and high is None:
        return DASH
    hi = "NR" if high is None else number(high, digits)
    lo = DASH if low is None else number(low, digits)
    return (
        f"{lo}{DASH}{hi}"
        if not (lo.startswith(MINUS) or hi.startswith(MINUS))
        else (f"{lo} to {hi}")
    )


def count_percent(n: int | None, pct: float | None) -> str:
    """``49 (80.3%)``; ``0`` of nobody as ``0``."""
    if n is None:
        return "not recorded"
    return f"{n}" if pct is None else f"{n} ({number(pct)}%)"


def rate_ci(rate: Mapping[str, object]) -> str:
    """The interval of a rate dictionary (``ci_low``, ``ci_high`` in percent)."""
    if rate.get("ci_low") is None:
        return ""
    return interval(rate["ci_low"], rate["ci_high"])  # type: ignore[arg-type]


def quartiles(q: Mapping[str, float | None], brackets: str = "()") -> str:
    """``3.0 (1.0, 3.0)``: median and quartiles; "–" when there are none."""
    if q.get("median") is None:
        return DASH
    left, right = brackets
    return f"{number(q['median'])} {left}{number(q['q1'])}, {number(q['q3'])}{right}"


def estimate(value: float | None, digits: int = 1) -> str:
    """An estimate, or "not reached"."""
    return "not reached" if value is None else number(value, digits)
