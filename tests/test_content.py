"""Every built assignment as course content, proved by `course audit`: the solution and every
correct variant earn full marks, the stubs zero (each test failing with its task's
NotImplementedError), every wrong variant loses exactly its own tasks with feedback that names the
mistake. The assignments come from course.yaml.

One draw of seeds here (CI's time: six audits are half of it); `COURSE_AUDIT_SEEDS=2` adds the second
draw that `course audit ID --seeds 2` grades at every change to an assignment's graders, and the seed
sweeps in benchmarks/ show each seeded threshold holding for at least 99% of seeds."""

import json
import os

import pytest
from click.testing import CliRunner

from grader.audit import CATCH_RATE, MIN_CORRECT, MIN_WRONG, render, Audit, Row
from grader.cli import main
from tests.conftest import BUILT
SEEDS = os.environ.get("COURSE_AUDIT_SEEDS", "1")  # draws of seeds for the tests marked `seeded`


@pytest.fixture(scope="module", params=BUILT)
def audited(request) -> dict:
    """`course audit ID --seeds SEEDS --json`, run once per built assignment."""
    result = CliRunner().invoke(main, ["audit", request.param, "--seeds", SEEDS, "--json"])
    assert result.exit_code in (0, 1), result.output
    (report,) = json.loads(result.output)
    report["exit_code"] = result.exit_code
    return report


def table(report: dict) -> str:
    rows = [Row(**{k: v for k, v in r.items() if k != "verdict"}) for r in report["rows"]]
    return render(Audit(report["assignment"], rows, report["seeds"], report["seconds"], report["redrawn"]))


def test_the_audit_passes(audited):
    assert audited["passed"] and audited["exit_code"] == 0, table(audited)


def test_enough_variants_and_a_high_catch_rate(audited):
    kinds = [r["kind"] for r in audited["rows"]]
    assert kinds.count("wrong") >= MIN_WRONG and kinds.count("correct") >= MIN_CORRECT, table(audited)
    assert audited["catch_rate"] >= CATCH_RATE and audited["false_failures"] == 0, table(audited)


def test_solution_full_marks_and_stubs_zero(audited):
    rows = {r["kind"]: r for r in audited["rows"] if r["kind"] in ("solution", "stubs")}
    assert rows["solution"]["verdict"] == "ok", table(audited)
    assert rows["stubs"]["verdict"] == "ok", table(audited)
