"""`python -m actors`: the actorstore command line."""

import sys

from actors.cli import main

sys.exit(main())
