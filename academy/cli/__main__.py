"""``python -m academy.cli``: the same command line as the ``academy`` console script."""

from academy.cli import app

app()
