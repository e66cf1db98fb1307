"""`course syllabus`: the ordered assignments, their readings, and the learner's progress.

Progress is what `course check ID` records in `.course/progress.json`: each assignment's last full
public run. An assignment is done when that run scored full marks. The points so far add each built
assignment's last score (scaled to its course.yaml points, should those have changed since); the
hours left add the time estimates of every assignment not done, planned ones included.
"""

from __future__ import annotations

import math

from grader.check import load_progress
from grader.config import Assignment, Course


def last_run(progress: dict, a: Assignment) -> tuple[float, float] | None:
    """(score, max_score) of the assignment's last recorded run, or None (none, or unreadable)."""
    entry = progress.get(a.id)
    if not isinstance(entry, dict):
        return None
    try:
        score, max_score = float(entry["score"]), float(entry["max_score"])
    except (TypeError, KeyError, ValueError):
        return None
    return (score, max_score) if 0 <= score <= max_score < math.inf and max_score > 0 else None


def is_done(progress: dict, a: Assignment) -> bool:
    """Built, and its last recorded run scored full marks."""
    run = last_run(progress, a)
    return a.built and run is not None and run[0] >= run[1]


def earned(progress: dict, a: Assignment) -> float:
    """The assignment's points from its last recorded run (0 when there is none)."""
    run = last_run(progress, a)
    return 0.0 if run is None or not a.built else run[0] / run[1] * a.points


def standing(course: Course, progress: dict) -> list[str]:
    """The lines under the table: points so far, what is done, what comes next and the hours left."""
    built = [a for a in course.assignments if a.built]
    done = [a for a in course.assignments if is_done(progress, a)]
    left = [a for a in course.assignments if a not in done]
    points = sum(earned(progress, a) for a in built)
    lines = [
        f"Points so far: {points:.4g} / {sum(a.points for a in built):g} in the {len(built)} built assignment{'s' if len(built) != 1 else ''}; "
        f"done: {', '.join(a.id for a in done) or 'none yet'}."
    ]
    hours = sum(a.estimate_hours for a in left)
    in_built = sum(a.estimate_hours for a in left if a.built)
    following = next((a for a in left if a.built), None)
    if following is not None:
        lead = "Start with" if not any(last_run(progress, a) for a in built) else "Next"
        lines.append(
            f"{lead}: {following.id}, {following.title}: course check {following.id}. "
            f"About {hours:g} hours left ({in_built:g} in the built assignments)."
        )
    elif left:
        lines.append(f"Every built assignment is done; next: {left[0].id} (not built yet). About {hours:g} hours left.")
    else:
        lines.append("Every assignment is done.")
    return lines


def syllabus(course: Course, readings: bool = True) -> str:
    progress = load_progress(course.root)
    if not isinstance(progress, dict):
        progress = {}
    lines = [course.title, ""]
    lines.append(f"{'#':<2} {'id':<9} {'pillar':<13} {'title':<54} {'points':>6} {'hours':>5}  last score")
    total_hours = 0.0
    for n, a in enumerate(course.assignments, 1):
        total_hours += a.estimate_hours
        if not a.built:
            last = "(not built yet)"
        elif (run := last_run(progress, a)) is not None:
            when = progress[a.id].get("when", "?")
            last = f"{run[0]:g} / {run[1]:g} ({when})" + (", done" if is_done(progress, a) else "")
        else:
            last = "-"
        lines.append(f"{n:<2} {a.id:<9} {a.pillar:<13} {a.title[:54]:<54} {a.points:>6g} {a.estimate_hours:>5g}  {last}")
        if readings:
            for r in a.readings:
                lines.append(f"{'':26}reading: {r}")
            lines.append("")
    lines.append(f"{len(course.assignments)} assignments, about {total_hours:g} hours.")
    lines += standing(course, progress)
    return "\n".join(lines)
