"""
The agent's kernels behind a run-time bit-width (:mod:`.agent`).

Above both :mod:`qcoinf_ros.core.quant` (quantizers, nested codes) and :mod:`qcoinf_ros.core.lut`
(the kernel library), which import neither this package nor each other's callers: ``lut`` imports
``quant``, never the other way.
"""

from qcoinf_ros.core.runtime.agent import (
    AgentRuntime, build_runtime, KERNELS, LIBRARY_KERNELS, resolve_kernel)

__all__ = ['KERNELS', 'LIBRARY_KERNELS', 'AgentRuntime', 'resolve_kernel', 'build_runtime']
