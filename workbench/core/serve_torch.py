"""The torch FP32 reference served for `core.serving`: the checkpoint in transformers and the workbench's head.

Run as a script: the process imports torch and transformers, as a sentence-transformers server does.
"""

from __future__ import annotations


def load(artifact: str, fmt: str, spec: dict, recipe: dict):
    import torch

    from workbench.core.embedding import Recipe, hidden_layers, pooled_output
    from workbench.core.models import load_model

    loaded, head = load_model(artifact), Recipe(**recipe)

    def encode(ids, mask):
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask)}
        with torch.inference_mode():
            layers = hidden_layers(loaded.model, loaded.spec.architecture == "decoder", head.last_n_layers, **batch)
            return pooled_output(layers, batch["attention_mask"], head, loaded.dense_layers).float().numpy()

    return encode


if __name__ == "__main__":
    from workbench.core import serving

    serving.serve(load)
