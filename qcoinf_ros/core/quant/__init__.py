"""
Weight quantization of the agent model (paper section II-C) and its measurement.

The core API is re-exported here; :mod:`.distortion`, :mod:`.kernels` and :mod:`.bench` (which
load models) are imported from their modules.
"""

from qcoinf_ros.core.quant.config import GRANULARITIES, QuantConfig, SCHEMES
from qcoinf_ros.core.quant.nested import NestedQuantizedModel
from qcoinf_ros.core.quant.packing import pack_codes, packed_nbytes, unpack_codes
from qcoinf_ros.core.quant.quantizers import (
    default_filter, dequantize, dequantize_codes, quantizable_weights, quantize_,
    quantize_tensor, QuantizedTensor, reduce_codes)

__all__ = [
    'GRANULARITIES', 'SCHEMES', 'QuantConfig', 'NestedQuantizedModel', 'pack_codes',
    'unpack_codes', 'packed_nbytes', 'QuantizedTensor', 'quantize_tensor', 'dequantize',
    'dequantize_codes', 'reduce_codes', 'quantize_', 'default_filter', 'quantizable_weights',
]
