import sys

from binwatch.cli import main

sys.exit(main())
