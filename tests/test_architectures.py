"""Architecture records: the exact published networks, counted against their published sizes, built at random."""

import pytest
import torch

from workbench.core import architectures
from workbench.core.models import REGISTRY

# A Qwen3 of the 0.6B family at test size: the same layer types, 2 layers of width 64.
TINY = dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
            num_key_value_heads=2, head_dim=16, vocab_size=512)


def test_every_registry_model_has_a_record_and_no_record_is_orphaned():
    assert set(architectures.records()) == set(REGISTRY)


@pytest.mark.parametrize("name", sorted(architectures.records()))
def test_record_builds_to_the_published_parameter_count(name):
    arch = architectures.architecture(name)
    counted = architectures.transformer_params(arch) + arch.dense_params + arch.lm_head_params
    assert abs(counted - arch.published_params) <= arch.published_precision / 2, (counted, arch.published_params)
    assert arch.output_dim == REGISTRY[name].dim


def test_exact_counts_of_the_models_the_seeds_are_about():
    """Published exactly (safetensors metadata): any change to a record's shape fields shows here."""
    exact = {name: architectures.transformer_params(architectures.architecture(name))
             for name in ("qwen3-embedding-0.6b", "qwen3-embedding-4b", "embeddinggemma-300m")}
    assert exact == {"qwen3-embedding-0.6b": 595_776_512, "qwen3-embedding-4b": 4_021_774_336,
                     "embeddinggemma-300m": 302_863_104}  # + Dense 768x3072 + 3072x768 = 307,581,696


def test_unknown_architecture_suggests_the_close_name():
    with pytest.raises(ValueError, match="did you mean 'qwen3-embedding-4b'"):
        architectures.architecture("qwen3-embedding-4")


def test_random_model_is_built_in_the_target_dtype_seeded_and_labelled():
    arch = architectures.architecture("qwen3-embedding-0.6b").scaled(**TINY)
    first = architectures.random_model(arch, "fp16", seed=3)
    assert {p.dtype for p in first.model.parameters()} == {torch.float16}
    assert first.spec.dim == 64 and first.spec.pooling == "last_token" and first.spec.padding_side == "left"
    assert architectures.is_random(first) and "accuracy not measured" in first.source
    again = architectures.random_model(arch, "fp16", seed=3)
    other = architectures.random_model(arch, "fp16", seed=4)
    weights = lambda m: torch.cat([p.flatten().float() for p in m.model.parameters()])  # noqa: E731
    assert torch.equal(weights(first), weights(again)) and not torch.equal(weights(first), weights(other))
    assert first.spec.params_millions * 1e6 == sum(p.numel() for p in first.model.parameters())


def test_scaled_gemma_scales_its_dense_head_with_the_width():
    gemma = architectures.architecture("embeddinggemma-300m")
    deeper = gemma.scaled(num_hidden_layers=2, vocab_size=512)
    narrower = gemma.scaled(hidden_size=128, num_hidden_layers=2, vocab_size=512, head_dim=32, num_attention_heads=2)
    assert deeper.dense == gemma.dense and deeper.output_dim == 768
    assert narrower.dense == ((128, 512, False, "Identity"), (512, 128, False, "Identity"))
    assert narrower.output_dim == 128
    model = architectures.random_model(deeper, "fp32")
    assert [d["weight"].shape for d in model.dense_layers] == [(3072, 768), (768, 3072)]
    small = architectures.random_model(narrower, "fp16")
    assert [d["weight"].shape for d in small.dense_layers] == [(512, 128), (128, 512)]


def test_no_quality_or_drift_is_computed_from_random_weights():
    from workbench.core import evaluation

    model = architectures.random_model(architectures.architecture("qwen3-embedding-0.6b").scaled(**TINY))
    with pytest.raises(ValueError, match="random weights: .* no quality or drift figure is computed"):
        evaluation.embed_all(model, evaluation.load_eval_data(max_texts=2), None)
