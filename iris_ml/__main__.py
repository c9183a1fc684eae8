"""``python -m iris_ml``: the same as the ``iris-ml`` command."""

import sys

from iris_ml.cli.main import main

sys.exit(main())
