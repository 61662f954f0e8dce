"""Django's manage.py for the study: ``python -m itpcohort.study.manage check --deploy``.

The data folder and database come from the environment (see ``settings``); with
no ``ITPCOHORT_STUDY_DB``, commands that need the database start the embedded
PostgreSQL of ``ITPCOHORT_STUDY_DATA`` first.
"""

from __future__ import annotations

import os
import sys


def main(argv: list[str] | None = None) -> None:
    from django.core.management import execute_from_command_line

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "itpcohort.study.settings")
    args = list(sys.argv if argv is None else argv)
    if not os.environ.get("ITPCOHORT_STUDY_DB") and args[1:2] not in (["check"], ["help"]):
        from pathlib import Path

        from itpcohort.study.runtime import DEFAULT_DATA, start_embedded

        data = Path(os.environ.get("ITPCOHORT_STUDY_DATA", DEFAULT_DATA))
        os.environ["ITPCOHORT_STUDY_DB"] = start_embedded(data)
    execute_from_command_line(args)


if __name__ == "__main__":
    main()
