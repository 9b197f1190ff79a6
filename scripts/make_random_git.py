#!/usr/bin/env python3
"""Write a random GIT checkpoint of a chosen size for timing (thin wrapper)."""

import sys

from qcoinf_ros.models.tiny import main

if __name__ == '__main__':
    sys.exit(main())
