"""hw1: information theory."""
