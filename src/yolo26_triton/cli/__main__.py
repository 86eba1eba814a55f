"""``python -m yolo26_triton.cli``: the ``triton-detect`` command."""

import sys

from yolo26_triton.cli.main import main

sys.exit(main())
