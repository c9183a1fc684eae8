import sys

from score_client.cli import main

sys.exit(main())
