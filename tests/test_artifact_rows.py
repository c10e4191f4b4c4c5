"""The artifact row contract: what 03 writes is what 07 reads back, and anything else is refused by name."""

import pytest

from workbench.convert.rows import ARTIFACTS, Accuracy, ArtifactRow, Latency, Status
from workbench.core.records import TableSchemaError
from workbench.core.files import json_safe

ROW = ArtifactRow("onnx", "int8", "trained", model="/tmp/model", params=22_700_000, path="/tmp/a",
                  size_bytes=23_456_789,
                  convert_s=4.5, convert_peak_rss_bytes=1_800_000_000, convert_step_rss_bytes=900_000_000,
                  load_s=0.25, load_rss_bytes=44_000_000, latency=(Latency(1, 0.004, 0.006),),
                  accuracy=Accuracy(mean_cosine=0.97, ndcg10_kept_pct=98.5), runtime="ONNX Runtime CPU",
                  notes=("one note",))


def test_a_row_survives_results_json_unchanged():
    import json

    payload = json.loads(json.dumps(json_safe({"tables": {"artifacts": ARTIFACTS.payload([ROW])}})))
    (back,) = ARTIFACTS.read(payload)
    assert back == ROW and back.latency_at(1).p95_s == 0.006 and back.latency_at(32) is None
    assert back.status is Status.MEASURED and payload["tables"]["artifacts"]["rows"][0]["status"] == "measured"


def test_a_row_written_before_status_and_model_existed_still_reads():
    raw = {k: v for k, v in ROW.as_dict().items() if k not in ("model", "params", "status")}
    (old,) = ARTIFACTS.read({"tables": {"artifacts": {"schema": "artifact-row/1", "rows": [raw]}}})
    assert old.status is Status.MEASURED and old.params is None and old.size_bytes == ROW.size_bytes


def test_a_run_from_before_rows_has_none_and_a_foreign_schema_is_refused():
    assert ARTIFACTS.read({"results": {"size_mb_onnx_int8": 23}}) is None
    with pytest.raises(TableSchemaError, match=f"schema 'artifact-row/0'; this workbench reads '{ARTIFACTS.schema}'"):
        ARTIFACTS.read({"tables": {"artifacts": {"schema": "artifact-row/0", "rows": []}}})


@pytest.mark.parametrize("change, message", [
    ({"size_mb": 23}, r"artifact row has unknown field\(s\) size_mb"),
    ({"size_bytes": "23 MB"}, "'size_bytes' must be a whole number or null; got '23 MB'"),
    ({"format": None}, "'format' must be a string; got None"),
    ({"status": "half done"}, "'status' must be one of measured, left to the fit"),
    ({"conversion_path": "fast"}, "'conversion_path' must be one of plain, lean; got 'fast'"),
    ({"latency": [{"batch": 1}]}, r"field 'latency'\[0\] lacks field 'p50_s'"),
    ({"accuracy": {"mean_cosine": "high"}}, "field 'accuracy' field 'mean_cosine' must be a finite number or null"),
    ({"notes": "one note"}, "'notes' must be a list; got 'one note'"),
])
def test_a_malformed_row_names_what_is_wrong(change, message):
    raw = {**ROW.as_dict(), **change}
    with pytest.raises(TableSchemaError, match=message):
        ArtifactRow.from_dict(raw)
