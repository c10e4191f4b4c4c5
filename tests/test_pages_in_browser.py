"""A small suite of every study, opened page by page in headless Chromium as a reader would see it.

Each page is checked for what a reader must never see: script errors, images that do not load, progress bars
or converter logs, raw result keys, cut-off table cells; every file the suite wrote must be readable by
others. Screenshots of the index and every page are kept in reports/screenshots/ for a reviewer to look at.
"""

import json
import re
import stat
import subprocess

import pytest

from test_report_browser import CHROMIUM, FLAGS
from workbench.core.paths import PROJECT_ROOT

SUITE = """runs:
  - name: precision
    notebook: 01_precision_accuracy
    parameters: {max_texts: 6, precisions: [fp16], latency_repeats: 2}
  - name: pooling
    notebook: 02_pooling
    parameters: {max_texts: 6, strategies: [mean, cls, mean_unmasked], last_n_values: [1]}
  - name: quantization
    notebook: 03_quantization
    parameters: {max_texts: 6, formats: [onnx], variants: [int8], latency_repeats: 1}
  - name: capacity
    notebook: 04_hnsw_capacity
    parameters: {engines: [hnswlib, faiss, flat], dims: [64], n_values: [500, 1000], n_queries: 20}
  - name: scale
    notebook: 05_scale
    parameters: {series: [[64, 1], [128, 1], [192, 1]], project_to: [qwen3-embedding-0.6b], max_length: 8,
                 series_batch_sizes: [1], latency_repeats: 2}
  - name: storage
    notebook: 06_vector_storage
    parameters: {max_texts: 12, rescore_multipliers: [1, 4], latency_n: [100, 200], n_queries: 10}
  - name: deployment
    notebook: 07_deployment
    parameters: {preset: phone-4gb}
"""
SCREENSHOTS = PROJECT_ROOT / "reports" / "screenshots"
NEVER_SHOWN = ("it/s]", "Running MIL", "Failed to load", "Traceback (most recent call last)")

# Injected first in <head>: collects script errors, broken images, the page's visible text and table cells.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener("load", () => {
  const sortable = Array.from(document.querySelectorAll('th[title="click to sort"]'));
  sortable.forEach(th => th.click());
  const images = Array.from(document.images);
  const report = {images: images.length, broken: images.filter(i => !(i.complete && i.naturalWidth > 0)).length,
                  errors: window.__errors, text: document.body.innerText, sortable: sortable.length,
                  cells: Array.from(document.querySelectorAll("td, th")).map(c => c.innerText.trim()),
                  // tables that run past the window's right edge, and long text squeezed into a sliver of a column
                  wide: Array.from(document.querySelectorAll("table"))
                    .filter(t => t.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                    .map(t => (t.querySelector("th, td") || {innerText: ""}).innerText.trim().slice(0, 60)),
                  narrow: Array.from(document.querySelectorAll("td"))
                    .filter(c => c.innerText.trim().length > 40 && c.getBoundingClientRect().width < 80)
                    .map(c => c.innerText.trim().slice(0, 60))};
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(report);
  document.body.appendChild(out);
});
</script>"""


def _probe(page, tmp_path) -> dict:
    probed = page.with_name(f".probed-{page.parent.name}-{page.name}")
    probed.write_text(page.read_text().replace("<head>", "<head>" + PROBE, 1))
    try:
        dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400",
                              "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=120).stdout
    finally:
        probed.unlink()
    match = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.DOTALL)
    assert match, f"{page} never finished loading in Chromium"
    import html

    return json.loads(html.unescape(match[1]))


def _screenshot(page, name, tmp_path):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,2400",
                    f"--screenshot={SCREENSHOTS / name}", page.as_uri()], capture_output=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; .ci/run does it)")
def test_every_page_of_a_suite_reads_clean_in_a_browser(tmp_path):
    from workbench.run.cli import main

    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    reports = tmp_path / "reports"
    assert main(["run", str(suite), "--reports", str(reports), "--quiet"]) == 0
    runs = sorted(p.parent for p in reports.glob("*/results.json"))
    assert len(runs) == 7
    pages = [reports / "index.html"] + [run / "report.html" for run in runs]
    keys = {key for run in runs for key in json.loads((run / "results.json").read_text())["results"]}
    for page in pages:
        seen = _probe(page, tmp_path)
        name = "index" if page.name == "index.html" else page.parent.name.split("-")[0]
        _screenshot(page, f"{name}.png", tmp_path)
        assert seen["errors"] == [] and seen["broken"] == 0, (name, seen["errors"], seen["broken"])
        assert not [s for s in NEVER_SHOWN if s in seen["text"]], name
        visible_keys = sorted(k for k in keys if re.search(rf"(?<![\w-]){re.escape(k)}(?![\w-])", seen["text"]))
        assert not visible_keys, (name, visible_keys)
        assert not [c for c in seen["cells"] if c.endswith(("…", "..."))], name
        assert seen["narrow"] == [], (name, "long text in a column a few characters wide", seen["narrow"])
    assert _probe(runs[0] / "report.html", tmp_path)["sortable"] > 0, "01's per-text table sorts by any column"
    index = _probe(reports / "index.html", tmp_path)
    assert index["images"] == 7, "a thumbnail per study"
    assert "Published claims, checked" in index["text"]
    assert index["wide"] == [], ("the index fits a 1280 px window: no table runs off its right edge", index["wide"])
    written = [p for p in reports.rglob("*") if p.is_file()]
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in written}
    assert all(mode & 0o044 == 0o044 for mode in modes.values()), {n: oct(m) for n, m in modes.items()
                                                                    if m & 0o044 != 0o044}
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o055 == 0o055 for p in reports.rglob("*") if p.is_dir())
