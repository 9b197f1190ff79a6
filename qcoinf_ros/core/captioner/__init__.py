"""
How the embedded scene captioners are made: model, tokenizer, training, distillation, scoring.

Their weights ship in ``qcoinf_ros/core/weights/captioner/`` and load through
:mod:`qcoinf_ros.core.models.embedded`.
"""
