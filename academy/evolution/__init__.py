"""The nightly evolution's pure functions: each takes arguments and returns values (or writes the
files it is told to), so Prefect tasks (``tasks/``) wrap them thinly and tests call them directly."""
