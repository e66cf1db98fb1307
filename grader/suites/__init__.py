"""Grading suites, one package per assignment: public/ and hidden/ tests, drivers, snapshots."""
