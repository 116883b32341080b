"""`python -m sensenet`: the `sensenet` command."""

import sys

from sensenet.cli import main

sys.exit(main())
