"""The ``qcoinf`` command-line tool."""
