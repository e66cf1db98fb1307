"""hw4: compression."""
