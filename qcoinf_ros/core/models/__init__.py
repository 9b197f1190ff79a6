"""Split-model adapters (agent part quantized, server part full precision) and models."""
