"""Laboratory tests itpcohort knows, their canonical units and conversions.

Platelets are kept in 10^9/L (``shared/spec/cohort-format.md``): ``10^9/L``,
``x10^9/L``, ``10*9/L``, ``G/L``, ``10^3/uL``, ``10*3/uL`` and ``K/uL`` are the
same unit; ``/uL`` (cells per microlitre) is divided by 1000. Other tests are
converted to the SI unit named first below. Units are matched without regard
to case, spaces, ``µ``/``μ``/``u`` or a leading ``x``/``×``.
"""

from __future__ import annotations

_COUNT_PER_L = {
    "10^9/l": 1.0,
    "10*9/l": 1.0,
    "g/l": 1.0,
    "10^3/ul": 1.0,
    "10*3/ul": 1.0,
    "k/ul": 1.0,
    "/ul": 0.001,
}

#: test -> (canonical unit, {normalised unit -> factor to the canonical unit})
TESTS: dict[str, tuple[str, dict[str, float]]] = {
    "platelets": ("10^9/L", _COUNT_PER_L),
    "neutrophils": ("10^9/L", _COUNT_PER_L),
    "hemoglobin": ("g/L", {"g/l": 1.0, "g/dl": 10.0, "mmol/l": 16.114}),
    "creatinine": ("umol/L", {"umol/l": 1.0, "mg/dl": 88.42, "mmol/l": 1000.0}),
    "potassium": ("mmol/L", {"mmol/l": 1.0, "meq/l": 1.0}),
    "magnesium": ("mmol/L", {"mmol/l": 1.0, "mg/dl": 0.4114, "meq/l": 0.5}),
    "glucose": ("mmol/L", {"mmol/l": 1.0, "mg/dl": 0.0555}),
    "alt": ("U/L", {"u/l": 1.0, "iu/l": 1.0, "ukat/l": 60.0}),
    "ast": ("U/L", {"u/l": 1.0, "iu/l": 1.0, "ukat/l": 60.0}),
    "tacrolimus_trough": ("ng/mL", {"ng/ml": 1.0, "ug/l": 1.0, "nmol/l": 0.804}),
}


def normalise_unit(unit: str) -> str:
    """The matching key of a unit: lower case, no spaces, ``u`` for micro, no ``x``."""
    key = unit.strip().lower().replace(" ", "").replace("µ", "u").replace("μ", "u")
    if key[:1] in ("x", "×"):
        key = key[1:]
    return key


def conversion_rows() -> list[tuple[str, str, float, str]]:
    """(test, normalised unit, factor, canonical unit) for every known pair."""
    return [
        (test, unit, factor, canonical)
        for test, (canonical, units) in TESTS.items()
        for unit, factor in units.items()
    ]
