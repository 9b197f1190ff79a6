"""Bit-plane lookup-table kernels: uniform b-bit weights at a cost that grows with b."""
