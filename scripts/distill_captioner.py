#!/usr/bin/env python3
"""Distil the default captioner's wide agent from the tiny one on CPU (thin)."""

import sys

from qcoinf_ros.captioner.distill import main

if __name__ == '__main__':
    sys.exit(main())
