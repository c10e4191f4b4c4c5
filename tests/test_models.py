import json
from dataclasses import FrozenInstanceError

import numpy as np
import pytest

import workbench
from workbench.core.models import REGISTRY, ModelNotAvailableError, ModelSpec, UnknownModelError, spec_for


def test_registry_has_the_models_the_studies_name():
    for name, dim, pooling in [("all-minilm-l6-v2", 384, "mean"), ("bge-small-en-v1.5", 384, "cls"),
                               ("embeddinggemma-300m", 768, "mean"), ("qwen3-embedding-0.6b", 1024, "last_token"),
                               ("qwen3-embedding-4b", 2560, "last_token")]:
        spec = REGISTRY[name]
        assert (spec.dim, spec.pooling) == (dim, pooling)
        assert spec.license
    assert REGISTRY["qwen3-embedding-0.6b"].padding_side == "left"
    assert spec_for("Qwen/Qwen3-Embedding-0.6B").name == "qwen3-embedding-0.6b"
    with pytest.raises(FrozenInstanceError):
        REGISTRY["all-minilm-l6-v2"].dim = 1


def test_spec_validation():
    with pytest.raises(ValueError, match="pooling 'avg' not in"):
        ModelSpec(name="x", hf_id="x/y", dim=8, max_tokens=8, pooling="avg")


def test_packaged_default_loads_offline(minilm):
    assert minilm.spec.name == "all-minilm-l6-v2"
    assert minilm.source.endswith("model")
    assert not minilm.model.training


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownModelError, match="Did you mean: all-minilm-l6-v2"):
        workbench.load_model("all-minilm-l6")


def test_uncached_hub_id_offline_says_how_to_fix():
    with pytest.raises(ModelNotAvailableError, match=r"not in the local Hugging Face cache.*Fix: .*download"):
        workbench.load_model("example-org/not-a-cached-embedder")


def test_local_folder_reads_sentence_transformers_pooling(minilm_copy):
    config = minilm_copy / "1_Pooling" / "config.json"
    settings = json.loads(config.read_text())
    settings.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    config.write_text(json.dumps(settings))
    loaded = workbench.load_model(str(minilm_copy))
    assert loaded.spec.pooling == "cls"
    assert loaded.spec.max_tokens == 256  # from sentence_bert_config.json
    assert loaded.spec.dim == 384


def test_folder_without_safetensors_is_refused(tmp_path, tiny_bert_dir):
    import shutil

    folder = tmp_path / "bin-only"
    shutil.copytree(tiny_bert_dir, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not loaded: pickle is never read")
    with pytest.raises(ModelNotAvailableError, match="holds only pytorch_model.bin weights; the workbench loads "
                                                     "safetensors only"):
        workbench.load_model(str(folder))
    (folder / "pytorch_model.bin").unlink()
    with pytest.raises(ModelNotAvailableError, match=r"has config.json but no weights \(\*.safetensors\)"):
        workbench.load_model(str(folder))
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{broken")
    with pytest.raises(ModelNotAvailableError, match="safetensors weights of .* are damaged"):
        workbench.load_model(str(folder))


def test_tiny_qwen3_folder_is_a_left_padded_last_token_decoder(tiny_qwen3_dir):
    loaded = workbench.load_model(str(tiny_qwen3_dir))
    assert (loaded.spec.architecture, loaded.spec.pooling, loaded.spec.padding_side) == ("decoder", "last_token",
                                                                                          "left")
    assert loaded.tokenizer.padding_side == "left"


def test_dense_modules_of_a_sentence_transformers_folder_match_sentence_transformers(tiny_dense_dir):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(tiny_dense_dir), device="cpu")
    loaded = workbench.load_model(str(tiny_dense_dir))
    assert loaded.spec.dim == 16 and len(loaded.dense_layers) == 1
    texts = ["a short note", "the boiler service is booked for March"]
    ours = workbench.embed(loaded, texts, workbench.Recipe.model_default(loaded.spec)).vectors
    theirs = st.encode(texts, normalize_embeddings=True)
    assert np.min((ours * theirs).sum(axis=1)) > 0.99999
