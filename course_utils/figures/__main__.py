"""``python -m course_utils.figures``: draw and embed the diagrams (``make figures``), or ``--check`` them."""

import sys

from course_utils.figures import main

sys.exit(main())
