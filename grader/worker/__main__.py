"""`python -I -m grader.worker FD`: the worker process (see grader.worker.server)."""

import sys

from grader.worker.server import main

main(sys.argv[1:])
