"""``python -m vaecourse COMMAND [ARGS]``: runs :func:`vaecourse.cli.main` (the commands live there)."""

import sys

from vaecourse.cli import main

if __name__ == "__main__":
    sys.exit(main())
