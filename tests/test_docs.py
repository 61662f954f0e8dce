"""The contract travels with the code: docs/ holds the same text as shared/spec/."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

SPEC = ROOT.parent / "shared" / "spec"


@pytest.mark.parametrize("name", ["cohort-format.md", "response-criteria.md"])
def test_docs_carry_the_spec_verbatim(name: str) -> None:
    if not (SPEC / name).exists():
        pytest.skip(f"{SPEC / name} is absent: the shared spec sits beside the repo in CI")
    assert (ROOT / "docs" / name).read_text(encoding="utf-8") == (SPEC / name).read_text(
        encoding="utf-8"
    ), f"docs/{name} differs from shared/spec/{name}: copy the spec again"


def test_readme_links_the_contract_in_the_repo() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "(docs/cohort-format.md)" in readme and "(docs/response-criteria.md)" in readme
