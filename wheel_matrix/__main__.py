import sys

from wheel_matrix.cli import main

sys.exit(main())
