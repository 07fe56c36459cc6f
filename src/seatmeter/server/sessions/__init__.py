"""Sessions: one application run by one host user on one host."""
