"""Consumer events and the monthly publisher reports computed from them (no I/O here)."""
