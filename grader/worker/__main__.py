"""`python -I -m grader.worker FD`: the worker process (see grader.worker.server). The grading side
starts it as `python -I -c remote.WORKER_MAIN PATH FD`, which imports grader from PATH first."""

import sys

from grader.worker.server import main

main(sys.argv[1:])
