"""Reference Docker plugins for the certification tests: one that passes, one that does not."""
