import sys

from ui import main

sys.exit(main())
