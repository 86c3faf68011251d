"""`python -m actorstore`: the actorstore command line."""

import sys

from actorstore.cli import main

sys.exit(main())
