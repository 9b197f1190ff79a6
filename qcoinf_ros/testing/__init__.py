"""Test and benchmark harnesses: two hosts in network namespaces over a shaped link."""
