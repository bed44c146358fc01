"""Benchmark of `acg2vec serve`: requests/s, p50 and p99 with N concurrent clients on loopback, for tags (one
image) and work search (one short text), against the same models called in-process and the server with
micro-batching off.

Three measurements per endpoint, in one run on one machine:

1. in-process: the served model called directly (no HTTP, no JSON) at batch sizes 1, 2, 4, 8, 16, 32, and
   again after the server runs at the mean batch size the server formed -- the ceiling it can approach;
2. the server (`acg2vec serve`, a separate process) with micro-batching on, N clients each sending the same
   request in a loop; the mean batch size the server formed is read from its /metrics;
3. the same with `--no-batching` (every request its own model call).

Ratios printed: batching on / off (target >= 2 for tags with 16 clients) and the HTTP + JSON overhead,
1 - server req/s / in-process items/s at the server's mean batch size (target <= 25%).

    flock /tmp/acg2vec-bench.lock .venv/bin/python benchmarks/serve.py --workdir acg2vec-data --clients 16
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


def time_calls(fn, batch: int, seconds: float) -> float:
    """Items per second of ``fn(batch)`` repeated for about ``seconds`` (after one warm-up call)."""
    fn(batch)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        fn(batch)
        done += batch
    return done / (time.perf_counter() - start)


def in_process_fns(services, image: bytes, query: str) -> dict:
    """The work one request asks of the models, called directly ``b`` times at once."""
    from acg2vec.serving.uploads import prepare_image

    prepared = prepare_image(image).data

    def tags(b: int):
        return services._tag_batch([prepared] * b)

    def works(b: int):
        encoded = services._text_batch([query] * b)
        return [services.work_search.search(query, vector, k=10) for vector, _ in encoded]

    return {"tags": tags, "works": works} if services.work_search is not None else {"tags": tags}


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


async def load(base: str, make_request, *, clients: int, seconds: float, warmup: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as http:
        start = time.perf_counter()
        measure_from = start + warmup
        stop_at = measure_from + seconds

        async def client() -> None:
            nonlocal errors
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                response = await make_request(http)
                t1 = time.perf_counter()
                if response.status_code != 200:
                    errors += 1
                elif t0 >= measure_from:
                    latencies.append(t1 - t0)

        await asyncio.gather(*(client() for _ in range(clients)))
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / seconds,
        "p50_ms": 1000 * percentile(latencies, 50),
        "p99_ms": 1000 * percentile(latencies, 99),
    }


def cpu_seconds(pid: int | None = None) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def measure_server(workdir: str, args: list[str], endpoints: dict, *, clients: int, seconds: float) -> dict:
    server = Server(workdir, *args)
    try:
        server.wait_ready()
        out = {}
        for name, (make_request, model) in endpoints.items():
            before = server.batch_stats()[model]
            cpu = (cpu_seconds(), cpu_seconds(server.process.pid))
            out[name] = asyncio.run(load(server.base, make_request, clients=clients, seconds=seconds, warmup=2.0))
            out[name]["client_cpu_s"] = cpu_seconds() - cpu[0]
            out[name]["server_cpu_s"] = cpu_seconds(server.process.pid) - cpu[1]
            after = server.batch_stats()[model]
            batches = after[1] - before[1]
            out[name]["mean_batch"] = (after[0] - before[0]) / batches if batches else float("nan")
        return out
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=os.environ.get("ACG2VEC_HOME", "acg2vec-data"))
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="Measured seconds per server run.")
    parser.add_argument("--inproc-seconds", type=float, default=3.0, help="Seconds per in-process batch size.")
    parser.add_argument("--image", help="Image to tag (default: the first post thumbnail of index/images).")
    parser.add_argument("--query", help="Work search text (default: a title of index/works).")
    parser.add_argument("--out", help="Write the figures as JSON here too.")
    args = parser.parse_args()

    from acg2vec.serving.services import ServeConfig, build_missing, load_services

    workdir = str(Path(args.workdir).resolve())
    config = ServeConfig(workdir=workdir)
    build_missing(config)
    services = load_services(config)
    if services.tagger is None:
        sys.exit(f"no tagger under {workdir}/models: run `acg2vec demo` (or train one) first")
    image = Path(args.image).read_bytes() if args.image else services.posts.thumbnail(next(iter(services.posts.by_id)))
    query = args.query or (
        services.works.works[0]["titles"].get("en") or services.works.text_of_row[0] if services.works else ""
    )
    load_avg = os.getloadavg()

    inproc_fns = in_process_fns(services, image, query)
    inproc = in_process(inproc_fns, args.inproc_seconds)

    files = {"file": ("bench.jpg", image, "image/jpeg")}

    async def tags_request(http):
        return await http.post("/v1/tags", files=files)

    async def works_request(http):
        return await http.get("/v1/works/search", params={"q": query, "k": 10})

    endpoints = {"tags": (tags_request, "tags")}
    if "works" in inproc:
        endpoints["works"] = (works_request, "text")
    batched = measure_server(workdir, [], endpoints, clients=args.clients, seconds=args.seconds)
    unbatched = measure_server(workdir, ["--no-batching"], endpoints, clients=args.clients, seconds=args.seconds)
    # The in-process ceiling again, at the batch size the server actually formed, measured right after.
    at_server_batch = {}
    for name in endpoints:
        b = max(1, round(batched[name]["mean_batch"]))
        fn = inproc_fns[name]
        at_server_batch[name] = (b, time_calls(fn, b, args.inproc_seconds * 2))
    services.close()
    load_after = os.getloadavg()

    report = {"clients": args.clients, "load_before": load_avg, "load_after": load_after, "query": query,
              "image_bytes": len(image), "cpus": os.cpu_count(), "in_process": inproc, "endpoints": {}}  # fmt: skip
    print(f"acg2vec serve benchmark: {args.clients} clients on loopback, {os.cpu_count()} CPUs, "
          f"load average {load_avg[0]:.1f} before / {load_after[0]:.1f} after")  # fmt: skip
    print(f"{'endpoint':10} {'mode':14} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'batch':>6}")
    for name in endpoints:
        on, off = batched[name], unbatched[name]
        for mode, row in (("batching on", on), ("batching off", off)):
            print(f"{name:10} {mode:14} {row['rps']:8.1f} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
                  f"{row['mean_batch']:6.1f}" + (f"  ({row['errors']} errors)" if row["errors"] else ""))  # fmt: skip
        b, ceiling = at_server_batch[name]
        overhead = 1 - on["rps"] / ceiling
        speedup = on["rps"] / off["rps"] if off["rps"] else float("nan")
        print(f"{name:10} {'in-process':14} {ceiling:8.1f} {'':8} {'':8} {b:6d}  "
              f"(curve: " + ", ".join(f"{k}: {v:.1f}/s" for k, v in inproc[name].items()) + ")")  # fmt: skip
        print(f"{name:10} batching on / off = {speedup:.2f}x; HTTP+JSON overhead at batch {b} = "
              f"{100 * overhead:.0f}% of in-process throughput; CPU s of the clients / the server while batched: "
              f"{on['client_cpu_s']:.1f} / {on['server_cpu_s']:.1f} in {args.seconds + 2:.0f} s")  # fmt: skip
        report["endpoints"][name] = {"batching_on": on, "batching_off": off, "in_process_at_batch": [b, ceiling],
                                     "speedup": speedup, "overhead": overhead}  # fmt: skip
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1, default=float))


if __name__ == "__main__":
    main()
