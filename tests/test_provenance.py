"""Which weights a run measured: the hub revision and SHA-256 per file, recorded, and compared between runs."""

import hashlib
import shutil

import huggingface_hub.constants

from workbench.core import provenance
from workbench.core.models import LoadedModel, spec_for
from workbench.run.cli import main
from workbench.run.results import Run

REVISION = "0123456789abcdef0123456789abcdef01234567"


def _loaded(source: str) -> LoadedModel:
    return LoadedModel(model=None, tokenizer=object(), spec=spec_for("all-minilm-l6-v2"), source=source)


def test_a_hub_snapshot_gives_its_revision_and_each_file_its_hash(tmp_path, monkeypatch, tiny_dense_dir):
    snapshot = tmp_path / "hub" / "models--someone--tiny" / "snapshots" / REVISION
    shutil.copytree(tiny_dense_dir, snapshot)
    (snapshot.parent.parent / "refs").mkdir()
    (snapshot.parent.parent / "refs" / "main").write_text(REVISION)  # the hub cache's own layout
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    weights = provenance.of(_loaded("someone/tiny"))
    assert (weights.revision, weights.folder) == (REVISION, str(snapshot))
    names = [f.name for f in weights.files]
    assert names == sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*.safetensors")) and len(names) == 2
    main_file = snapshot / "model.safetensors"
    assert weights.files[names.index("model.safetensors")].sha256 == hashlib.sha256(main_file.read_bytes()).hexdigest()
    assert provenance.fingerprint(weights)["weights revision"] == REVISION


def test_a_folder_has_hashes_but_no_revision_and_random_weights_have_neither(tiny_bert_dir):
    folder = provenance.of(_loaded(str(tiny_bert_dir)))
    assert folder.revision is None and [f.name for f in folder.files] == ["model.safetensors"]
    assert folder.files[0].size_bytes == (tiny_bert_dir / "model.safetensors").stat().st_size
    random = provenance.of(LoadedModel(model=None, tokenizer=None, spec=spec_for("all-minilm-l6-v2"), source="seed 0"))
    assert (random.files, random.revision, random.folder) == ((), None, "")


def test_compare_flags_two_runs_whose_weights_differ_under_the_same_parameters(tmp_path, tiny_bert_dir, capsys):
    for name, revision in (("01_precision_accuracy-aaaa1111", REVISION), ("01_precision_accuracy-bbbb2222", "f" * 40)):
        run = Run(tmp_path / name, "01_precision_accuracy", {"model": "someone/tiny"})
        weights = provenance.of(_loaded(str(tiny_bert_dir)))
        run.record_rows(provenance.WEIGHTS, [provenance.WeightsProvenance(
            weights.source, weights.folder, revision, weights.files)])
        run.finish()
    assert main(["compare", "aaaa", "bbbb", "--reports", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "weights revision" in out and REVISION in out and "f" * 40 in out
    assert "identical parameters" not in out and "weights sha256" not in out, "same files: only the revision differs"
