"""Parks train.py just before it promotes, for the killed-training test.

On PYTHONPATH, Python imports this module at start in every process the test runs
(the `mlflow run` CLI and train.py). Only in train.py, and only when
IRIS_TEST_PAUSED_MARKER names a file, it replaces `iris_ml.registry.versions.promote` with
a function that creates that file and waits. The test waits for the file, then
sends Ctrl-C: the signal provably lands mid-way, after a version that passed the
gate is registered and before the alias moves, however busy the machine is.
"""

import os
import sys
import time

_MARKER = os.environ.get("IRIS_TEST_PAUSED_MARKER")

if _MARKER and sys.argv and os.path.basename(sys.argv[0]) == "train.py":
    import iris_ml.registry.versions

    def _paused_promote(*args: object, **kwargs: object) -> None:
        with open(_MARKER, "w") as marker:
            marker.write(str(os.getpid()))
        while True:  # until the test's SIGINT raises KeyboardInterrupt here
            time.sleep(1)

    iris_ml.registry.versions.promote = _paused_promote
