"""hw2: control."""
