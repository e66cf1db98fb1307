"""`course syllabus`: the ordered assignments, their readings, and the learner's last scores."""

from __future__ import annotations

from grader.check import load_progress
from grader.config import Course


def syllabus(course: Course, readings: bool = True) -> str:
    progress = load_progress(course.root)
    lines = [course.title, ""]
    lines.append(f"{'#':<2} {'id':<9} {'pillar':<13} {'title':<54} {'points':>6} {'hours':>5}  last score")
    total_hours = 0.0
    for n, a in enumerate(course.assignments, 1):
        total_hours += a.estimate_hours
        if not a.built:
            last = "(not built yet)"
        elif a.id in progress:
            p = progress[a.id]
            last = f"{p['score']:g} / {p['max_score']:g} ({p['when']})"
        else:
            last = "-"
        lines.append(f"{n:<2} {a.id:<9} {a.pillar:<13} {a.title[:54]:<54} {a.points:>6g} {a.estimate_hours:>5g}  {last}")
        if readings:
            for r in a.readings:
                lines.append(f"{'':26}reading: {r}")
            lines.append("")
    first = next((a.id for a in course.assignments if a.built), None)
    start = f" Start with: course check {first}" if first else ""
    lines.append(f"{len(course.assignments)} assignments, about {total_hours:g} hours.{start}")
    return "\n".join(lines)
