"""Entry point of `python -m hsl`."""

import sys

from hsl.cli import main

sys.exit(main())
