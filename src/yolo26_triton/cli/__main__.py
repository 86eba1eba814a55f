"""``python -m yolo26_triton.cli``: the ``triton-detect`` command."""

import sys

from yolo26_triton.cli.app import main

sys.exit(main())
