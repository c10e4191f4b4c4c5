from dataclasses import replace

import numpy as np
import pytest
import torch

import workbench
from workbench.core.embedding import DimensionMismatchError, NonFiniteEmbeddingError, Recipe, embed

from texts import TEXTS

# sentence-transformers' own encode is the reference implementation of the model's recipe; both run
# the same FP32 weights, so anything below this is a pipeline difference, not rounding.
ST_PARITY_MIN_COSINE = 0.99999
# FP16 drift floor for the seed recipe on MiniLM (seed 001 claims >= 0.999999 on average for its model;
# the study measures the exact value, this test only guards against a broken cast or pipeline).
FP16_MIN_COSINE = 0.9999


def test_model_recipe_matches_sentence_transformers_encode(minilm):
    from sentence_transformers import SentenceTransformer

    from workbench.core.data import load_queries

    texts = TEXTS + load_queries()[:40] + ["", "   "]  # empty texts too: real corpora hold empty documents
    ours = embed(minilm, texts, Recipe.model_default(minilm.spec)).vectors
    theirs = SentenceTransformer(minilm.source, device="cpu").encode(texts, normalize_embeddings=True)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= ST_PARITY_MIN_COSINE, cosines.min()


def test_seed_recipe_fp16_stays_close_to_fp32(minilm):
    ref = embed(minilm, TEXTS, Recipe())
    half = embed(minilm.to("fp16"), TEXTS, Recipe())
    assert half.precision == "fp16"
    assert (ref.vectors * half.vectors).sum(axis=1).min() >= FP16_MIN_COSINE
    assert not np.array_equal(ref.vectors, half.vectors), "fp16 copy did not change the arithmetic"
    assert minilm.precision == "fp32" and next(minilm.model.parameters()).dtype == torch.float32


def test_output_order_does_not_depend_on_length_sorting(minilm):
    recipe = Recipe(padding="longest")
    together = embed(minilm, TEXTS, recipe, batch_size=2).vectors
    alone = np.vstack([embed(minilm, [t], recipe).vectors for t in TEXTS])
    assert np.allclose(together, alone, atol=1e-5)


def test_vectors_are_unit_length_and_pooled_is_not(minilm):
    out = embed(minilm, TEXTS, Recipe())
    assert np.allclose(np.linalg.norm(out.vectors, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(np.linalg.norm(out.pooled, axis=1), 1.0, atol=1e-3)
    raw = embed(minilm, TEXTS, Recipe(normalize=False))
    assert np.array_equal(raw.vectors, raw.pooled)


def test_truncation_is_counted_and_warned(minilm):
    long_text = "word " * 80
    with pytest.warns(UserWarning, match="1 of 2 texts are longer than max_length=32"):
        out = embed(minilm, ["short", long_text], Recipe(max_length=32))
    assert list(out.truncated) == [False, True] and out.n_truncated == 1
    assert out.n_tokens[1] > 32


@pytest.mark.parametrize("texts, error, message", [
    ([], ValueError, "texts is empty"),
    (["fine", 3], TypeError, r"texts\[1\] is int, not str"),
    ("one string", TypeError, "not a single string"),
    (None, TypeError, "must be a list of strings"),
])
def test_bad_texts_get_one_clear_message(minilm, texts, error, message):
    with pytest.raises(error, match=message):
        embed(minilm, texts)


def test_bad_recipe_and_precision_values(minilm):
    with pytest.raises(ValueError, match="padding 'fixed' is not valid; choose from max_length, longest"):
        Recipe(padding="fixed")
    with pytest.raises(ValueError, match="unknown pooling 'avg'"):
        Recipe(pooling="avg")
    with pytest.raises(ValueError, match="last_n_layers must be an integer >= 1"):
        Recipe(last_n_layers=0)
    with pytest.raises(ValueError, match="precision 'int8' is not supported by the torch backend"):
        minilm.to("int8")
    with pytest.raises(ValueError, match="max_length 1024 exceeds what all-minilm-l6-v2 accepts"):
        embed(minilm, TEXTS, Recipe(max_length=1024))


def test_cuda_is_reported_not_crashed_when_absent(minilm):
    from workbench.core.precision import PlatformNotAvailable

    if torch.cuda.is_available():
        assert minilm.to("fp16", "cuda").device == "cuda"
    else:
        with pytest.raises(PlatformNotAvailable, match="no CUDA GPU"):
            minilm.to("fp16", "cuda")


def test_dimension_mismatch_is_loud(minilm):
    wrong = replace(minilm, spec=replace(minilm.spec, dim=768))
    with pytest.raises(DimensionMismatchError, match="produced 384-d vectors but its spec declares 768"):
        embed(wrong, TEXTS)


def test_nan_is_loud(tiny_bert_dir):
    broken = workbench.load_model(str(tiny_bert_dir))
    with torch.no_grad():
        broken.model.embeddings.word_embeddings.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteEmbeddingError, match="5 of 5 embeddings contain NaN or inf"):
        embed(broken, TEXTS, Recipe(last_n_layers=1))


def test_clamp_keeps_fp16_overflow_finite(tiny_bert_dir):
    model = workbench.load_model(str(tiny_bert_dir))
    with torch.no_grad():  # every hidden value 30000: finite in FP16, but a sum over tokens overflows
        norm = model.model.encoder.layer[-1].output.LayerNorm
        norm.weight.zero_()
        norm.bias.fill_(30000.0)
    half = model.to("fp16")
    with pytest.raises(NonFiniteEmbeddingError, match="set clamp_fp16=True"):
        embed(half, TEXTS, Recipe(last_n_layers=1, clamp_fp16=False))
    clamped = embed(half, TEXTS, Recipe(last_n_layers=1, clamp_fp16=True))
    assert np.isfinite(clamped.vectors).all()
    assert np.abs(clamped.pooled).max() == 65504.0


def test_tiny_bert_encoder_path(tiny_bert_dir):
    model = workbench.load_model(str(tiny_bert_dir))
    out = embed(model, TEXTS, Recipe(last_n_layers=2))
    assert out.vectors.shape == (len(TEXTS), 32)


def test_tiny_qwen3_decoder_last_token_agrees_under_left_and_right_padding(tiny_qwen3_dir):
    model = workbench.load_model(str(tiny_qwen3_dir))
    recipe = Recipe(padding="longest", max_length=64, last_n_layers=1, pooling="last_token", clamp_fp16=False)
    left = embed(model, TEXTS, recipe)
    model.tokenizer.padding_side = "right"
    right = embed(model, TEXTS, recipe)
    model.tokenizer.padding_side = "left"
    alone = np.vstack([embed(model, [t], recipe).vectors for t in TEXTS])
    assert np.allclose(left.vectors, alone, atol=1e-4)
    assert np.allclose(right.vectors, alone, atol=1e-4)
    # the last real token is the appended <|endoftext|>, so every text ends on the same token id
    assert left.vectors.shape == (len(TEXTS), 32)


def test_an_empty_text_a_tokenizer_turns_into_no_tokens_is_named(tiny_qwen3_dir):
    from tokenizers import processors

    model = workbench.load_model(str(tiny_qwen3_dir))
    assert embed(model, ["fine", ""], Recipe(last_n_layers=1, pooling="last_token")).vectors.shape == (2, 32)
    model.tokenizer.backend_tokenizer.post_processor = processors.ByteLevel()  # appends no <|endoftext|>
    with pytest.raises(ValueError, match=r"texts\[1\] = '' becomes no tokens at all: .* adds no special tokens"):
        embed(model, ["fine", ""], Recipe(last_n_layers=1, pooling="last_token"))
