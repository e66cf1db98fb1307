"""hw3: optimization."""
