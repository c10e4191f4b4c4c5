"""Cells of a suite on a Dask `distributed` cluster: a local one, or any scheduler the user names.

A worker runs the notebook with papermill in a folder of its own and sends the finished run folder back as
bytes; the client writes it into reports/ under a temporary name and renames it into place. No shared
filesystem is needed, and a reader (or a client started again) sees a cell's folder whole or not at all.

A worker that dies mid-cell costs that attempt only: the cell is submitted again, at most `retries` times. A
notebook that fails is a finished cell (its report shows the error) and is never retried.
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

from workbench.core.units import GB
from workbench.run.report import REPORT_FILE
from workbench.run.runner import SuiteProgress
from workbench.run.suite import SuiteEntry

RAM_RESOURCE = "ram_gb"  # the worker resource a cell's declared `ram_gb:` asks for
INCOMING_PREFIX = ".incoming-"  # a folder still being written by the client
REPLACED_PREFIX = ".replaced-"  # a run folder being swapped out for the one that just came back
WORKER_WAIT_S = 120  # how long a run waits for the first worker to join its scheduler
STARTED_TOPIC = "workbench-cell-started"  # event a worker logs when it starts a cell (queued cells are not running)


class ClusterLost(RuntimeError):
    """The client lost its scheduler; every cell that came back before is kept."""


def local_cluster(workers: int, dashboard: str | None = ":8787"):
    """A LocalCluster of `workers` single-threaded processes, each offering an equal share of this machine's RAM
    as the `ram_gb` resource. The scheduler gives up on a task at its first dead worker: retries are ours, so each
    death is counted once."""
    import logging

    import dask
    import psutil
    from dask.distributed import LocalCluster

    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    share_gb = round(psutil.virtual_memory().total / GB / workers, 1)
    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, memory_limit=0,
                        resources={RAM_RESOURCE: share_gb}, dashboard_address=dashboard,
                        silence_logs=logging.ERROR)


def execute_cell(notebook_name: str, notebook_text: str, parameters: dict, folder_name: str, kernel: str,
                 environment: dict) -> dict:
    """On a worker: run one notebook in a scratch folder and return the run folder's files and the error, if any."""
    import os
    import tempfile

    from distributed import get_worker

    from workbench.run.report import execute_notebook

    worker = get_worker()
    worker.log_event(STARTED_TOPIC, {"key": worker.get_current_task(), "worker": worker.address})
    os.environ.update(environment)  # the same values for every cell of a suite, so threads never disagree
    scratch = Path(tempfile.mkdtemp(prefix="workbench-cell-"))
    try:
        notebook = scratch / notebook_name
        notebook.write_text(notebook_text, encoding="utf-8")
        out = scratch / folder_name
        _, error = execute_notebook(notebook, out, {**parameters, "output_dir": str(out)}, kernel, progress=False)
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        return {"files": files, "error": error}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def unpack(files: dict[str, bytes], folder: Path) -> None:
    """Write a returned run folder under a temporary name, then rename it into place (replacing an older one)."""
    tag = uuid.uuid4().hex[:8]
    incoming = folder.parent / f"{INCOMING_PREFIX}{folder.name}-{tag}"
    try:
        incoming.mkdir(parents=True)
        for relative, data in files.items():
            target = incoming / relative
            if not target.resolve().is_relative_to(incoming.resolve()):
                raise ValueError(f"a worker returned the path {relative!r}, outside its run folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o644)  # readable by others whatever the umask, as every file under reports/ is
        for path in [incoming, *(p for p in incoming.rglob("*") if p.is_dir())]:
            path.chmod(0o755)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise
    replaced = folder.parent / f"{REPLACED_PREFIX}{folder.name}-{tag}"
    if folder.exists():
        folder.rename(replaced)
    incoming.rename(folder)
    shutil.rmtree(replaced, ignore_errors=True)


def tidy(reports: Path) -> None:
    """After a client that stopped mid-write: drop half-written folders, put back a folder caught mid-swap."""
    for incoming in reports.glob(f"{INCOMING_PREFIX}*"):
        shutil.rmtree(incoming, ignore_errors=True)
    for replaced in reports.glob(f"{REPLACED_PREFIX}*"):
        original = reports / replaced.name[len(REPLACED_PREFIX):].rsplit("-", 1)[0]
        if original.exists():
            shutil.rmtree(replaced, ignore_errors=True)
        else:
            replaced.rename(original)


def worker_environment(cache_dir: str, cache_dir_source: str, force: bool) -> dict:
    """What the kernels on a worker inherit: no progress bars, the refresh switch, and the cache folder when the
    user chose one (otherwise each worker keeps its own project's default cache)."""
    from workbench.core.cache import REFRESH_ENV
    from workbench.core.paths import CACHE_ENV
    from workbench.core.progress import BATCH_ENV

    environment = {BATCH_ENV: "0", REFRESH_ENV: "1" if force else "0"}
    if cache_dir_source != "default":
        environment[CACHE_ENV] = cache_dir
    return environment


def _largest_offer(client) -> float | None:
    """The most `ram_gb` any connected worker offers (None when no worker declares the resource)."""
    offers = [w.get("resources", {}).get(RAM_RESOURCE) for w in client.scheduler_info()["workers"].values()]
    offers = [o for o in offers if o is not None]
    return max(offers) if offers else None


def run_dask(entries: list[SuiteEntry], reports: Path, kernel: str, scheduler: str | None, workers: int,
             retries: int, environment: dict, progress: SuiteProgress) -> list[tuple[str, str]]:
    """Run the entries on the cluster; each finished cell is written into `reports` as it comes back. The failures.

    Raises ClusterLost when the scheduler goes away; the cells written by then stay, and a new run resumes.
    """
    import logging

    from dask.distributed import CancelledError, Client, KilledWorker, wait

    logging.getLogger("distributed").setLevel(logging.ERROR)
    cluster = None if scheduler else local_cluster(workers)
    try:
        client = Client(scheduler or cluster, timeout="30s")
    except OSError as exc:
        if cluster is not None:
            cluster.close()
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it with `dask scheduler` or "
                         "leave out --scheduler for a local cluster") from None
    failures: list[tuple[str, str]] = []
    try:
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT_S)
        except TimeoutError:
            raise ValueError(f"no Dask worker joined the scheduler at {scheduler} within {WORKER_WAIT_S} s; start "
                             f"one with `dask worker {scheduler}`") from None
        if client.dashboard_link:
            progress.say(f"Dask dashboard: {client.dashboard_link}")
        offer = _largest_offer(client)
        submitted: dict[str, tuple[SuiteEntry, int]] = {}

        def submit(entry: SuiteEntry, attempt: int):
            resources = {RAM_RESOURCE: entry.ram_gb} if entry.ram_gb else None
            key = f"workbench-{entry.name}-attempt{attempt}-{uuid.uuid4().hex[:6]}"
            submitted[key] = (entry, attempt)
            return client.submit(execute_cell, entry.notebook.name, entry.notebook.read_text(encoding="utf-8"),
                                 entry.parameters, entry.folder(reports).name, kernel, environment, key=key,
                                 resources=resources, pure=False)

        def started(event) -> None:
            _, message = event
            if message.get("key") in submitted:
                entry, _ = submitted[message["key"]]
                progress.started(entry, entry.folder(reports), where=f" on {message.get('worker')}")

        client.subscribe_topic(STARTED_TOPIC, started)
        pending = set()
        for entry in entries:
            if entry.ram_gb and (offer is None or entry.ram_gb > offer):
                offered = f"the largest worker offers {offer:g} GB" if offer else "no worker declares ram_gb"
                error = (f"needs {entry.ram_gb:g} GB of RAM and {offered}; start workers with --resources "
                         f"\"{RAM_RESOURCE}=N\" (a local cluster shares the machine's RAM: use fewer --jobs)")
                progress.finished(entry, None, error)
                failures.append((entry.name, error))
            else:
                pending.add(submit(entry, 1))
        while pending:
            done, pending = wait(pending, return_when="FIRST_COMPLETED")
            for future in done:
                entry, attempt = submitted[future.key]
                folder = entry.folder(reports)
                try:
                    returned = future.result()
                except KilledWorker:
                    if attempt <= retries:
                        progress.say(f"{entry.name}: its worker died (attempt {attempt} of {retries + 1}); "
                                     "running it again on another worker", error=True)
                        progress.requeued(entry)
                        pending.add(submit(entry, attempt + 1))
                        continue
                    error = f"its worker died on all {attempt} attempts (retries: {retries})"
                    progress.finished(entry, None, error)
                    failures.append((entry.name, error))
                    continue
                except CancelledError:
                    raise ClusterLost("the Dask scheduler cancelled the cells (connection lost)") from None
                except Exception as exc:  # the cell's own code raised on the worker: reported, not retried
                    error = f"{type(exc).__name__}: {exc}"
                    progress.finished(entry, None, error)
                    failures.append((entry.name, error))
                    continue
                unpack(returned["files"], folder)
                html = folder / REPORT_FILE
                progress.finished(entry, html if html.exists() else None, returned["error"])
                if returned["error"]:
                    failures.append((entry.name, returned["error"]))
    except OSError as exc:  # the comm to the scheduler closed under us
        raise ClusterLost(f"lost the Dask scheduler ({exc})") from None
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return failures

