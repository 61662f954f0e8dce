"""``python -m itpcohort``."""

from itpcohort.cli import main

main()
