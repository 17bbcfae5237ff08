"""The `storemod` command line, by concern; `starter.py` assembles it."""
