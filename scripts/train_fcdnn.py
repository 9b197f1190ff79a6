#!/usr/bin/env python3
"""Train FCDNN-16 on the scikit-learn digits and write models/weights/ (thin wrapper)."""

import sys

from qcoinf_ros.models.fcdnn_train import main

if __name__ == '__main__':
    sys.exit(main())
