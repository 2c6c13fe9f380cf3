"""``python -m idphoto_cli``: the same as the ``idphoto`` console script."""

import sys

from idphoto_cli.main import main

sys.exit(main())
