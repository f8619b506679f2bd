import sys

from hipct.cli import main

sys.exit(main())
