"""Response-criteria profiles: validated settings loaded from TOML files.

A profile is data, not code (``shared/spec/response-criteria.md``). The
shipped profiles live in ``profiles/``; a user's file may start from one of
them with ``extends = "iwg2009"`` and change only what differs.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from itpcohort.errors import CriteriaError

FoldRule = Literal["and", "or", "none"]


class Criteria(BaseModel):
    """The settings of one response profile (all counts in 10^9/L, all gaps in days)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    source: str = ""
    cr_threshold: float = Field(gt=0)
    r_threshold: float = Field(gt=0)
    fold: float = Field(gt=0)
    fold_rule: FoldRule
    # IWG: response and loss are each seen on 2 separate occasions, so at least 1 day apart
    response_confirm_days: int = Field(ge=1)
    loss_confirm_days: int = Field(ge=1)
    baseline_window_days: int = Field(ge=1)
    rescue_washout_days: int = Field(ge=0)
    bleeding_min_grade: int = Field(ge=0, le=4)  # the WHO bleeding scale runs 0-4
    rescue_is_loss: bool
    sustained_min_days_off: int = Field(ge=0)

    @model_validator(mode="after")
    def _cr_above_r(self) -> Criteria:
        if self.cr_threshold < self.r_threshold:
            raise ValueError(
                f"cr_threshold ({self.cr_threshold:g}) must not be below "
                f"r_threshold ({self.r_threshold:g})"
            )
        return self


def builtin_profiles() -> list[str]:
    """Names of the profiles shipped with itpcohort."""
    folder = resources.files("itpcohort.criteria") / "profiles"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def load_criteria(profile: str | Path | Criteria = "iwg2009") -> Criteria:
    """A profile by built-in name (``iwg2009``, ``iwg2009-or``, ``platelet50``) or TOML path."""
    if isinstance(profile, Criteria):
        return profile
    return Criteria.model_validate(_settings(profile, seen=()), context=None)


def _settings(profile: str | Path, seen: tuple[str, ...]) -> dict[str, Any]:
    text, where = _profile_text(profile)
    if where in seen:
        raise CriteriaError(f"profile {where}: 'extends' loops back to itself")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CriteriaError(f"profile {where}: not valid TOML ({exc})") from None
    base = data.pop("extends", None)
    settings: dict[str, Any] = {}
    if base is not None:
        settings = _settings(_beside(str(base), profile), (*seen, where))
    settings.update(data)
    try:
        Criteria.model_validate(settings)
    except ValidationError as exc:
        raise CriteriaError(f"profile {where}: {_describe(exc)}") from None
    return settings


def _is_file(profile: str | Path) -> bool:
    """A profile file (rather than a shipped profile's name)."""
    path = Path(profile)
    return path.suffix == ".toml" or path.exists()


def _beside(base: str, profile: str | Path) -> str | Path:
    """``extends`` of a profile file: a relative file path is read from that file's folder."""
    if _is_file(base) and not Path(base).is_absolute() and _is_file(profile):
        return Path(profile).parent / base
    return base


def _profile_text(profile: str | Path) -> tuple[str, str]:
    path = Path(profile)
    if _is_file(profile):
        try:
            return path.read_text(encoding="utf-8"), str(path.resolve())
        except OSError as exc:
            raise CriteriaError(f"profile file {path}: cannot read it ({exc.strerror})") from None
    names = builtin_profiles()
    if str(profile) not in names:
        raise CriteriaError(
            f"unknown criteria profile '{profile}': use one of {', '.join(names)} "
            "or the path of a .toml profile file"
        )
    res = resources.files("itpcohort.criteria") / "profiles" / f"{profile}.toml"
    return res.read_text(encoding="utf-8"), str(profile)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        setting = ".".join(str(x) for x in err["loc"]) or "profile"
        if err["type"] == "extra_forbidden":
            parts.append(f"unknown setting '{setting}' (check its spelling)")
        elif err["type"] == "missing":
            parts.append(f"setting '{setting}' is missing")
        else:
            value = err.get("input")
            parts.append(f"setting '{setting}' = {value!r}: {err['msg']}")
    return "; ".join(parts)
