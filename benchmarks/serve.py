"""Benchmark of `acg2vec serve`: requests/s, p50 and p99 with N concurrent clients on loopback, for tags (one
image) and work search (one short text), against the same models called in-process and the server with
micro-batching off.

Three measurements per endpoint, in one run on one machine, with the same image bytes and the same text:

1. in-process: the served model called directly (no HTTP, no JSON) at batch sizes 1, 2, 4, 8, 16, 32, and
   again right after each server run at the mean batch size the server formed -- the ceiling it can approach;
2. the server (`acg2vec serve`, a separate process) with micro-batching on, N clients each sending the same
   request in a loop; the mean batch size the server formed is read from its /metrics;
3. the same with `--no-batching` (every request its own model call).

``--rounds R`` repeats 2, the in-process ceiling after it, and 3, R times in turn and summarises each ratio by
its median over the rounds: on a shared machine one slow spell then moves one round, not the result.

The clients run in a process of their own (one asyncio loop; by default each client replays request bytes
prepared once by httpx on a kept-alive socket, as wrk does, so the load generator takes as little of a small
machine's cores as it can; ``--client httpx`` uses httpx's AsyncClient instead), so their CPU is measured apart
from the server's: on a small machine they compete with the server for the same cores, and on a shared one so
do other jobs. Every throughput therefore comes with the CPU seconds it cost, and the HTTP + JSON overhead is
given two ways:

- wall clock: 1 - server requests/s / in-process items/s at the server's mean batch size -- what a user sees
  on this machine, including the clients' and other jobs' share of the cores;
- CPU: 1 - in-process CPU ms per item / server CPU ms per request -- the share of the server's own CPU spent on
  HTTP, multipart, JSON, validation, metrics and thread hand-offs beyond the model calls, however busy the
  machine is; the same with the clients' CPU added to the server's is printed beside it.

    flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/serve.py --workdir acg2vec-data --clients 16 --rounds 3

The demo's acgvoc2vec is far smaller than the published one; ``benchmarks/published_size_encoder.py`` makes a
workdir whose encoder has the published architecture, to measure work search at a realistic model cost.

The server uses httptools and uvloop when they are installed (uvicorn picks them); the line "server HTTP" says
which ran.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

BATCH_SIZES = (1, 2, 4, 8, 16, 32)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


# -- in-process ----------------------------------------------------------------------------------------------


def time_calls(fn, batch: int, seconds: float) -> tuple[float, float]:
    """Items per second of ``fn(batch)`` repeated for about ``seconds`` (after one warm-up call), and the CPU
    milliseconds of this process per item (the model's own threads included)."""
    fn(batch)
    done, start, cpu = 0, time.perf_counter(), cpu_seconds()
    while time.perf_counter() - start < seconds:
        fn(batch)
        done += batch
    return done / (time.perf_counter() - start), 1000 * (cpu_seconds() - cpu) / done


def in_process_fns(services, image: bytes, query: str) -> dict:
    """The work one request asks of the models, called directly ``b`` times at once (tags only given an image)."""
    from acg2vec.serving.services import WorkQuery
    from acg2vec.serving.uploads import decode_upload, open_upload

    fns = {}
    if image:
        prepared = decode_upload(open_upload(image)).data
        fns["tags"] = lambda b: services._tag_batch([prepared] * b)
    if services.work_search is not None:
        # What the server's text batcher does with b searches: one encoder call, one search pass.
        fns["works"] = lambda b: services._text_batch([WorkQuery(query, 10)] * b)
    return fns


def in_process(fns: dict, seconds: float) -> dict:
    return {name: {b: time_calls(fn, b, seconds) for b in BATCH_SIZES} for name, fn in fns.items()}


# -- the server ----------------------------------------------------------------------------------------------


class Server:
    def __init__(self, workdir: str, *args: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "acg2vec.cli", "--workdir", workdir, "--quiet", "serve", "--no-build",
                   "--port", str(self.port), *args]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 600) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("acg2vec serve exited before it was ready")
            try:
                if httpx.get(self.base + "/readyz", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise RuntimeError("acg2vec serve did not become ready")

    def batch_stats(self) -> dict[str, tuple[float, float]]:
        """Per model: (sum of batch sizes, number of batches) from /metrics."""
        import httpx

        text = httpx.get(self.base + "/metrics", timeout=10).text
        stats = {}
        for model in ("tags", "text", "embed"):
            total = re.search(rf'acg2vec_model_batch_size_sum{{model="{model}"}} ([0-9.e+]+)', text)
            count = re.search(rf'acg2vec_model_batch_size_count{{model="{model}"}} ([0-9.e+]+)', text)
            stats[model] = (float(total.group(1)) if total else 0.0, float(count.group(1)) if count else 0.0)
        return stats

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def request_maker(endpoint: str, image: bytes, query: str):
    """The one request each client repeats: a multipart image upload for tags, a GET for work search."""
    if endpoint == "tags":
        files = {"file": ("bench.jpg", image, "image/jpeg")}
        return lambda http: http.post("/v1/tags", files=files)
    return lambda http: http.get("/v1/works/search", params={"q": query, "k": 10})


async def load(base: str, make_request, *, clients: int, seconds: float, warmup: float, server_pid: int) -> dict:
    """``clients`` loops of requests for ``warmup`` + ``seconds``; counts the requests answered in the measured
    window and the CPU seconds the server and this process spent in it."""
    import httpx

    latencies: list[float] = []
    errors = 0
    cpu: dict[str, float] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + seconds

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                response = await make_request(http)
                t1 = time.perf_counter()
                if response.status_code != 200:
                    errors += 1
                elif measure_from <= t1 <= stop_at:
                    latencies.append(t1 - t0)

        async def snapshots() -> None:
            await asyncio.sleep(measure_from - time.perf_counter())
            cpu["server"], cpu["clients"] = -cpu_seconds(server_pid), -cpu_seconds()
            cpu["loop"] = -loop_thread_seconds(server_pid)
            await asyncio.sleep(stop_at - time.perf_counter())
            cpu["server"] += cpu_seconds(server_pid)
            cpu["clients"] += cpu_seconds()
            cpu["loop"] += loop_thread_seconds(server_pid)

        await asyncio.gather(snapshots(), *(client() for _ in range(clients)))
    done = max(len(latencies), 1)
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p99_ms": 1000 * percentile(latencies, 99),
        "server_cpu_s": cpu["server"],
        "client_cpu_s": cpu["clients"],
        "server_cpu_ms_per_request": 1000 * cpu["server"] / done,
        "server_loop_cpu_ms_per_request": 1000 * cpu["loop"] / done,
        "client_cpu_ms_per_request": 1000 * cpu["clients"] / done,
    }


def raw_request(base: str, endpoint: str, image: bytes, query: str) -> bytes:
    """The bytes of the one request a raw client repeats, built once by httpx (multipart body, query string,
    headers) and replayed on a kept-alive connection."""
    import httpx

    if endpoint == "tags":
        request = httpx.Request("POST", base + "/v1/tags", files={"file": ("bench.jpg", image, "image/jpeg")})
    else:
        request = httpx.Request("GET", base + "/v1/works/search", params={"q": query, "k": 10})
    body = request.read()
    target = request.url.raw_path.decode("ascii")
    headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw]
    head = f"{request.method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"
    return head.encode("latin-1") + body


class RawConnection:
    """One kept-alive HTTP/1.1 connection that sends prepared request bytes and reads one response (status
    line, headers, ``Content-Length`` body). A load generator that costs a tenth of httpx's CPU per request,
    so on a small machine the clients take less of the cores the server needs (what wrk does for C users)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def send(self, request: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        if b"connection: close" in head.lower():
            self.writer.close()
            self.reader = self.writer = None
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def load_raw(base: str, request: bytes, **kwargs) -> dict:
    """:func:`load` with :class:`RawConnection` clients instead of httpx: a request takes an idle connection (or
    opens one) and gives it back, so each of the ``clients`` loops keeps one connection alive."""
    from types import SimpleNamespace
    from urllib.parse import urlsplit

    url = urlsplit(base)
    connections: list[RawConnection] = []
    idle: list[RawConnection] = []

    async def send(_http) -> SimpleNamespace:
        if not idle:
            connections.append(RawConnection(url.hostname, url.port))
            idle.append(connections[-1])
        conn = idle.pop()
        status = await conn.send(request)
        idle.append(conn)
        return SimpleNamespace(status_code=status)

    try:
        return await load(base, send, **kwargs)
    finally:
        for conn in connections:
            conn.close()


def load_process(queue, base: str, endpoint: str, image: bytes, query: str, kwargs: dict, client: str) -> None:
    if client == "raw":
        coroutine = load_raw(base, raw_request(base, endpoint, image, query), **kwargs)
        try:
            import uvloop

            queue.put(uvloop.run(coroutine))
        except ImportError:
            queue.put(asyncio.run(coroutine))
    else:
        queue.put(asyncio.run(load(base, request_maker(endpoint, image, query), **kwargs)))


def cpu_seconds(pid: int | None = None) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def loop_thread_seconds(pid: int) -> float:
    """CPU seconds of the server's main thread, which runs uvicorn's event loop: HTTP parsing, routing,
    validation, multipart, JSON and metrics (the models and worker threads are the other threads)."""
    import psutil

    for thread in psutil.Process(pid).threads():
        if thread.id == pid:
            return thread.user_time + thread.system_time
    return float("nan")


def measure_server(
    workdir: str,
    args: list[str],
    endpoints: dict,
    *,
    image: bytes,
    query: str,
    clients: int,
    seconds: float,
    client: str = "raw",
) -> dict:
    """Start ``acg2vec serve`` with ``args``; per endpoint, load it from a separate client process."""
    import multiprocessing

    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no TensorFlow, no torch, its own GIL
    server = Server(workdir, *args)
    try:
        server.wait_ready()
        out = {}
        for name, model in endpoints.items():
            before = server.batch_stats()[model]
            queue = spawn.Queue()
            kwargs = {"clients": clients, "seconds": seconds, "warmup": 2.0, "server_pid": server.process.pid}
            worker = spawn.Process(target=load_process, args=(queue, server.base, name, image, query, kwargs, client))
            worker.start()
            out[name] = queue.get(timeout=600)
            worker.join(60)
            after = server.batch_stats()[model]
            batches = after[1] - before[1]
            out[name]["mean_batch"] = (after[0] - before[0]) / batches if batches else float("nan")
        return out
    finally:
        server.stop()


def http_stack() -> str:
    """What uvicorn runs the server on ("auto" picks httptools and uvloop when importable)."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http} + {loop}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=os.environ.get("ACG2VEC_HOME", "acg2vec-data"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per server run.")
    parser.add_argument("--inproc-seconds", type=float, default=3.0, help="Seconds per in-process batch size.")
    parser.add_argument("--image", help="Image to tag (default: the first post thumbnail of index/images).")
    parser.add_argument("--query", help="Work search text (default: a title of index/works).")
    parser.add_argument("--out", help="Write the figures as JSON here too.")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="An option for `acg2vec serve`, e.g. --server-arg=--max-batch=8 (repeatable).",
    )
    parser.add_argument(
        "--endpoints", nargs="+", choices=("tags", "works"), default=["tags", "works"], help="What to measure."
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Rounds of (batching on, in-process at its batch, batching off); the summary is their median.",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="Load generator: prepared request bytes on kept-alive sockets (raw, the default: the least client "
        "CPU) or httpx's AsyncClient.",
    )
    args = parser.parse_args()

    from acg2vec.serving.threads import prefer_passive_waits

    # The in-process calls run with the thread-pool waits the server uses (before torch loads here too).
    wait_policy = prefer_passive_waits()
    from acg2vec.serving.services import ServeConfig, build_missing, load_services

    workdir = str(Path(args.workdir).resolve())
    config = ServeConfig(workdir=workdir)
    build_missing(config)
    services = load_services(config)
    if "tags" in args.endpoints and (services.tagger is None or services.posts is None):
        sys.exit(f"no tagger or image index under {workdir}: run `acg2vec demo` first, or give --endpoints works")
    if "works" in args.endpoints and services.work_search is None:
        sys.exit(f"no acgvoc2vec or work index under {workdir}: run `acg2vec demo` first, or give --endpoints tags")
    image = b""
    if "tags" in args.endpoints:
        image = (
            Path(args.image).read_bytes() if args.image else services.posts.thumbnail(next(iter(services.posts.by_id)))
        )
    query = args.query or (
        services.works.works[0]["titles"].get("en") or services.works.text_of_row[0] if services.works else ""
    )
    load_avg = os.getloadavg()
    scorer = services.work_search.default if services.work_search is not None else None  # what a search answers with

    inproc_fns = {k: v for k, v in in_process_fns(services, image, query).items() if k in args.endpoints}
    inproc = in_process(inproc_fns, args.inproc_seconds)

    endpoints = {name: model for name, model in (("tags", "tags"), ("works", "text")) if name in args.endpoints}
    if "works" not in inproc:
        endpoints.pop("works", None)
    common = {"image": image, "query": query, "clients": args.clients, "seconds": args.seconds, "client": args.client}
    # Each round: the server with batching on, the in-process ceiling at the batch size it formed (right after),
    # and the server with batching off. Rounds alternate the three, so a slow spell of a shared machine lands
    # in one round and the median over rounds stands for the run.
    rounds = []
    for _ in range(args.rounds):
        batched = measure_server(workdir, args.server_arg, endpoints, **common)
        at_server_batch = {}
        for name in endpoints:
            b = max(1, round(batched[name]["mean_batch"]))
            at_server_batch[name] = (b, *time_calls(inproc_fns[name], b, args.inproc_seconds * 2))
        unbatched = measure_server(workdir, [*args.server_arg, "--no-batching"], endpoints, **common)
        rounds.append({name: figures(batched[name], unbatched[name], at_server_batch[name]) for name in endpoints})
    services.close()
    load_after = os.getloadavg()

    report = {"clients": args.clients, "load_before": load_avg, "load_after": load_after, "query": query,
              "image_bytes": len(image), "cpus": os.cpu_count(), "http": http_stack(), "client": args.client,
              "omp_wait_policy": wait_policy, "text_model": config.text_path(), "works_scorer": scorer,
              "in_process": inproc, "rounds": rounds, "endpoints": {}}  # fmt: skip
    print(f"acg2vec serve benchmark: {args.clients} clients (own process) on loopback, {os.cpu_count()} CPUs, "
          f"load average {load_avg[0]:.1f} before / {load_after[0]:.1f} after; server HTTP: {http_stack()}; "
          f"clients: {args.client}; OMP_WAIT_POLICY {wait_policy}; {args.rounds} round(s)")  # fmt: skip
    if scorer:
        print(f"work search: the default scorer of {config.text_path()}: {scorer}")
    for name in endpoints:
        print(f"{name}: in-process curve " + ", ".join(
            f"{k}: {v:.1f}/s {c:.1f} ms" for k, (v, c) in inproc[name].items()))  # fmt: skip
        print(f"{'endpoint':10} {'round':>5} {'mode':14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'batch':>6} "
              f"{'server CPU ms/req':>18} {'(event loop)':>12} {'client CPU ms/req':>18}")  # fmt: skip
        for i, one in enumerate(rounds, start=1):
            f = one[name]
            for mode, row in (("batching on", f["batching_on"]), ("batching off", f["batching_off"])):
                print(f"{name:10} {i:5d} {mode:14} {row['rps']:8.1f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
                      f"{row['mean_batch']:6.1f} {row['server_cpu_ms_per_request']:18.2f} "
                      f"{row['server_loop_cpu_ms_per_request']:12.2f} {row['client_cpu_ms_per_request']:18.2f}"
                      + (f"  ({row['errors']} errors)" if row["errors"] else ""))  # fmt: skip
            at = f["in_process_at_batch"]
            print(f"{name:10} {i:5d} {'in-process':14} {at['items_per_s']:8.1f} {'':8} {'':8} {at['batch']:6d} "
                  f"{at['cpu_ms_per_item']:18.2f}")  # fmt: skip
            print(f"{name:10} {i:5d} batching on / off = {f['speedup']:.2f}x; HTTP+JSON overhead at batch "
                  f"{at['batch']}: wall clock {100 * f['overhead_wall']:.0f}%, CPU {100 * f['overhead_cpu']:.0f}% "
                  f"({100 * f['overhead_cpu_with_clients']:.0f}% with the clients' CPU added)")  # fmt: skip
        median = {key: float(np.median([one[name][key] for one in rounds]))
                  for key in ("speedup", "overhead_wall", "overhead_cpu", "overhead_cpu_with_clients")}  # fmt: skip
        report["endpoints"][name] = median
        print(f"{name:10} median of {len(rounds)} round(s): batching on / off = {median['speedup']:.2f}x; "
              f"HTTP+JSON overhead: wall clock {100 * median['overhead_wall']:.0f}% of in-process throughput, "
              f"CPU {100 * median['overhead_cpu']:.0f}% of the server's CPU per request")  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))


def figures(on: dict, off: dict, at_server_batch: tuple[int, float, float]) -> dict:
    """One round of one endpoint: the server with batching on and off, the in-process ceiling at the server's
    batch size, and the ratios the targets are about."""
    b, ceiling, ceiling_cpu = at_server_batch
    return {
        "batching_on": on,
        "batching_off": off,
        "in_process_at_batch": {"batch": b, "items_per_s": ceiling, "cpu_ms_per_item": ceiling_cpu},
        "speedup": on["rps"] / off["rps"] if off["rps"] else float("nan"),
        "overhead_wall": 1 - on["rps"] / ceiling,
        "overhead_cpu": 1 - ceiling_cpu / on["server_cpu_ms_per_request"],
        "overhead_cpu_with_clients": 1
        - ceiling_cpu / (on["server_cpu_ms_per_request"] + on["client_cpu_ms_per_request"]),
    }


if __name__ == "__main__":
    main()
