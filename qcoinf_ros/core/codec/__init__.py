"""Wire format of the embedding the agent sends to the edge server."""

from qcoinf_ros.core.codec.embedding import (
    COMPRESSIONS, decode_embedding, EmbeddingMeta, encode_embedding, FORMAT)

__all__ = ['COMPRESSIONS', 'decode_embedding', 'EmbeddingMeta', 'encode_embedding', 'FORMAT']
