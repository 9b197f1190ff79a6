#!/usr/bin/env python3
"""Train the scene captioner (GIT architecture) on CPU and write captioner/weights/ (thin)."""

import sys

from qcoinf_ros.captioner.train import main

if __name__ == '__main__':
    sys.exit(main())
