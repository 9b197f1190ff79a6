#!/usr/bin/env python3
"""Write the sample bag: camera frames, battery drain, deadline changes (thin wrapper)."""

import sys

from qcoinf_ros.bags.sample import main

if __name__ == '__main__':
    sys.exit(main())
