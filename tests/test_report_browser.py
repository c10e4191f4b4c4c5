"""A real report opened in headless Chromium: its figures render and no script fails.

Chromium comes from Debian's packages; .ci/run installs it. Where it is missing the test
says so rather than pass without looking.
"""

import re
import shutil
import subprocess

import papermill
import pytest

from workbench.core.paths import NOTEBOOKS_DIR
from workbench.run.report import notebook_to_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
         "--no-first-run", "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000"]

# Injected before </body> of a copy of the report: counts script errors and images that fail to decode.
PROBE = """<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(String(e.message || e.type)), true);
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter(i => !(i.complete && i.naturalWidth > 0)).length;
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = `images=${images.length} broken=${broken} errors=${window.__errors.length}:${window.__errors.join("|")}`;
  document.body.appendChild(out);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium; .ci/run does it)")
def test_report_renders_images_without_script_errors(tmp_path):
    executed = tmp_path / "run.ipynb"
    papermill.execute_notebook(str(NOTEBOOKS_DIR / "01_precision_accuracy.ipynb"), str(executed),
                               parameters=dict(max_texts=4, precisions=["fp16"], latency_repeats=2,
                                               output_dir=str(tmp_path / "out")),
                               kernel_name="python3", progress_bar=False)
    page = notebook_to_html(executed).read_text()
    probed = tmp_path / "probed.html"
    # errors raised by the report's own scripts must reach the probe, so it goes first in <head>
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          probed.as_uri()], capture_output=True, text=True, timeout=120).stdout
    match = re.search(r'<pre id="probe">images=(\d+) broken=(\d+) errors=(\d+):(.*?)</pre>', dom)
    assert match, "the page never finished loading in Chromium"
    images, broken, errors, messages = int(match[1]), int(match[2]), int(match[3]), match[4]
    assert images >= 4, f"expected the study's figures as images, found {images}"
    assert broken == 0
    assert errors == 0, messages
    assert "wb-hide-code" in dom and "Verdict" in dom
