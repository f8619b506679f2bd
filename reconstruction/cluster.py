"""Run the reconstruction's slabs on a dask.distributed cluster.

The task graph per slab of output slices (:class:`~.reconstructor.ScanSlabs`)::

    part(input, rows, angles a0:a1)  ×  n_batches     flat/dark → Paganin → unsharp,
              │                                       chunked by projections
              ▼
    finish(rows) ── sinograms → rings → merge → FBP → write the slab into the staged store

``finish`` writes its slab straight into the staged OME-Zarr (or TIFF) store from the worker:
slabs are whole multiples of the Zarr chunk height, so no two tasks touch one chunk. The
client records each finished slab in the writer's journal (so ``--resume`` works as for a
local run) and builds the pyramid and metadata at the end. Workers need the inputs and the
output folder on a shared filesystem.

Every step is the local run's own code with the same inputs, and the FBP's non-uniform FFT
runs single-threaded per slice, so a distributed volume equals the local one bit for bit.
The job is scattered once to every worker; each worker opens the scans and plans the filters
on its first task and keeps them in that copy of the job, which dask drops when the run
releases it (nothing stays on a worker after the run).

SLURM (dask-jobqueue; see the README)::

    from dask_jobqueue import SLURMCluster
    cluster = SLURMCluster(cores=32, processes=4, memory="256GB", walltime="02:00:00")
    cluster.scale(jobs=8)
    print(cluster.scheduler_address)   # then: hipct reconstruct ... --scheduler ADDRESS
"""

from __future__ import annotations

from hipct.errors import HipctError

__all__ = ["run_distributed", "connect"]


def connect(address: str, timeout_s: float = 20.0):
    """A ``distributed.Client`` for ``address`` (``tcp://host:port`` or a scheduler file)."""
    try:
        from distributed import Client
    except ImportError:
        raise HipctError("--scheduler: dask.distributed is not installed; "
                         "pip install 'hipct[distributed]'") from None
    try:
        if address.endswith(".json"):
            return Client(scheduler_file=address, timeout=timeout_s)
        return Client(address, timeout=timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        raise HipctError(f"--scheduler: cannot reach {address!r} ({exc})") from None


def _part(job, i, r0, r1, a0, a1):
    return job.part(i, r0, r1, a0, a1, f"rows {r0}:{r1}")


def _finish(job, region, r0, r1, parts):
    block = job.slab(r0, r1, parts)
    if region is None:
        return r0, r1, block            # the client writes (formats without parallel writes)
    region(r0, block)
    return r0, r1, None


NO_WORKER_TIMEOUT_S = 120.0   # a cluster without workers for this long ends the run
_POLL_S = 0.2


def _watched(running, client):
    """The futures of ``running`` as they complete; a cluster left without any worker for
    :data:`NO_WORKER_TIMEOUT_S` raises a one-line error instead of waiting forever."""
    import time
    alone_since = None
    while not running.is_empty():
        if running.has_ready():
            alone_since = None
            yield from running.next_batch(block=False)
            continue
        time.sleep(_POLL_S)
        if client.scheduler_info().get("workers"):
            alone_since = None
            continue
        alone_since = alone_since or time.monotonic()
        if time.monotonic() - alone_since > NO_WORKER_TIMEOUT_S:
            raise HipctError(f"--scheduler: no worker left on the cluster for "
                             f"{NO_WORKER_TIMEOUT_S:g} s; start workers, then rerun the same "
                             "command with --resume (finished slabs are kept)")


def run_distributed(address, job, slabs, writer, bar, client=None, store=None):
    """Reconstruct ``slabs`` (``[(z0, z1), ...]``) on the cluster at ``address``.

    ``job`` is a :class:`~.reconstructor.ScanSlabs`. A slab that comes back to the client
    (formats without parallel writers) goes to ``store(z0, block)`` (default
    ``writer.write``); one a worker wrote is recorded with ``writer.mark_done``.

    At most one slab per worker is in flight. A worker holds a slab's batches (kept by dask
    until the slab's task ends) and the stack made from them, so give workers a memory limit
    of at least twice ``--memory`` plus ~0.5 GB for the interpreter and plans.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    import copy
    import os

    own = client is None
    client = client or connect(address)
    try:
        region = writer.region_writer()
        batches = job.batches()
        # workers run elsewhere (another folder, another node): give them absolute paths
        remote = copy.copy(job)              # without the open scans and plans
        remote.inputs = [os.path.abspath(p) for p in job.inputs]
        try:
            # waits for workers that are still starting (SLURM jobs) as long as the watchdog
            job_f = client.scatter(remote, broadcast=True, timeout=NO_WORKER_TIMEOUT_S)
        except TimeoutError as exc:
            raise HipctError(f"--scheduler: no worker on the cluster ({exc}); start workers, "
                             "then rerun the same command") from None

        def in_flight():                 # workers may join (SLURM jobs starting) or leave
            return max(1, len(client.scheduler_info().get("workers", {})))

        def submit(z0, z1):
            parts = [client.submit(_part, job_f, i, z0, z1, a0, a1, pure=False,
                                   key=f"hipct-part-{job.token}-{z0}-{i}-{a0}")
                     for i, a0, a1 in batches]
            return client.submit(_finish, job_f, region, z0, z1, parts, pure=False,
                                 key=f"hipct-slab-{job.token}-{z0}")

        pending = list(slabs)
        running = as_completed([submit(*pending.pop(0))
                                for _ in range(min(in_flight(), len(slabs)))])
        for fut in _watched(running, client):
            try:
                z0, z1, block = fut.result()
            except KilledWorker as exc:
                raise HipctError(
                    f"--scheduler: workers died while making a slab ({exc.args[0]}); give "
                    "workers a memory limit of at least 2 x --memory + 0.5 GB, or lower "
                    "--memory") from None
            except OSError as exc:
                if getattr(exc, "errno", None):
                    raise                       # a file-system fault on a worker: disk full...
                raise HipctError(f"--scheduler: lost contact with a worker or the scheduler "
                                 f"({type(exc).__name__}: {exc}); check the cluster, then rerun "
                                 "the same command with --resume") from None
            if block is not None:
                (store or writer.write)(z0, block)
            else:
                writer.mark_done(z0, z1)
            bar.update(z1 - z0)
            fut.release()
            while pending and running.count() < in_flight():
                running.add(submit(*pending.pop(0)))
    finally:
        if own:
            client.close()
