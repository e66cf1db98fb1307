"""What runs inside the student's process: the worker, the wire, the limits and the drivers.

Everything in this package is loaded into the worker, beside student code, so student code can
read or replace any of it: nothing here decides a grade. It imports the standard library, numpy
and torch, and nothing from the rest of `grader` (tests/test_layout.py holds it to that). The
grading side imports from here, never the other way round:

    contract.py   the typed messages between the two sides (requests, replies, errors, limits)
    protocol.py   the wire: plain data as tagged JSON, length-framed
    confine.py    what the worker does to itself before student code runs (limits, system-call filter)
    server.py     the worker's request loop, and the warm parent that forks one per submission
    drivers/      per assignment (`<id>.py`), code that drives student objects and hands back raw outputs
"""
