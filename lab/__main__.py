import sys

from lab.cli import main

try:
    sys.exit(main())
except BrokenPipeError:  # `lab status --json | head`: the reader has gone; not an error of ours
    sys.stderr.close()
    sys.exit(0)
