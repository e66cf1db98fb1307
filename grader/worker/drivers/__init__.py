"""Per-assignment drivers (`<id>.py`), sent to the worker as source and run beside student code.
A driver returns the student functions' raw outputs; every verdict is made on the grading side."""
