"""Shared fixtures: the packaged MiniLM (the one real model) and tiny random BERT / Qwen3 models.

Module-level settings run before any test or notebook kernel starts, so nbval's
kernels inherit them: offline hub, no progress bars, outputs in a temp folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_PROGRESS", "0")
os.environ.setdefault("WORKBENCH_OUTPUT_ROOT", tempfile.mkdtemp(prefix="workbench-test-outputs-"))
os.environ.setdefault("WORKBENCH_CACHE_DIR", tempfile.mkdtemp(prefix="workbench-test-cache-"))


@pytest.fixture(scope="session")
def minilm():
    import workbench

    return workbench.load_model("all-minilm-l6-v2")


@pytest.fixture(scope="session")
def tiny_bert_dir(tmp_path_factory, minilm) -> Path:
    """A 2-layer random BERT with MiniLM's tokenizer, saved as safetensors."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=minilm.tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    minilm.tokenizer.save_pretrained(folder)
    return folder


def _train_bpe_tokenizer(folder: Path) -> None:
    """A small byte-level BPE trained on the bundled queries, ending every text with <|endoftext|> like Qwen3."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from workbench.core.paths import DATA_DIR

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator((DATA_DIR / "queries.txt").read_text().splitlines(), trainer)
    eos = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", eos)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                                   padding_side="left")
    fast.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory) -> Path:
    """A 2-layer random Qwen3 decoder with a locally trained BPE tokenizer."""
    import torch
    from transformers import Qwen3Config, Qwen3Model

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-qwen3")
    _train_bpe_tokenizer(folder)
    config = Qwen3Config(vocab_size=512, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=256,
                         pad_token_id=0, eos_token_id=0)
    Qwen3Model(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="session")
def tiny_dense_dir(tmp_path_factory, tiny_bert_dir) -> Path:
    """The tiny BERT as a sentence-transformers folder: mean pooling, a Dense 32 -> 16 with tanh, Normalize."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules

    torch.manual_seed(1)
    body = modules.Transformer(str(tiny_bert_dir))
    pool = modules.Pooling(body.get_embedding_dimension(), pooling_mode="mean")
    dense = modules.Dense(32, 16, activation_function=torch.nn.Tanh())
    folder = tmp_path_factory.mktemp("tiny-dense")
    SentenceTransformer(modules=[body, pool, dense, modules.Normalize()], device="cpu").save(str(folder))
    return folder


@pytest.fixture()
def minilm_copy(tmp_path, minilm) -> Path:
    """A writable copy of the packaged MiniLM folder, to edit its configs in a test."""
    destination = tmp_path / "minilm"
    shutil.copytree(minilm.source, destination)
    return destination
