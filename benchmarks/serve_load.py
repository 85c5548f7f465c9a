"""`noisesearch serve` under load: JOBS one-search jobs from CLIENTS concurrent clients on the images route of a
server on loopback (digits), each client sending its next request when the last one is answered. Prints the
throughput (searches/s, NFEs/s), each request's latency (p50, p99) and the ratio of the server's wall time to one
batched `noisesearch.search` of as many searches with the same settings, and to the same searches run one by one
(their sum), on this machine (models loaded apart).

    python benchmarks/serve_load.py                      # 64 jobs, 16 clients, one CPU worker
    python benchmarks/serve_load.py --devices 2 --jobs 128
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def load(server, jobs: int, clients: int, budget: int, algorithm: str) -> tuple[float, list[float], int]:
    """Every client's requests in turn; (wall seconds, each request's latency, NFEs spent)."""
    latencies: list[float] = []
    spent: list[int] = []
    failures: list[str] = []

    def client(indexes: list[int]) -> None:
        for i in indexes:
            started = time.perf_counter()
            status, answer = server.json("POST", "/v1/images/generations",
                                         {"prompt": str(i % 10), "seed": i, "budget_nfe": budget,
                                          "algorithm": algorithm}, timeout=600)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                failures.append(f"{status}: {json.dumps(answer)[:200]}")
                continue
            spent.extend(image["nfe"] for image in answer["data"])

    threads = [threading.Thread(target=client, args=(list(range(c, jobs, clients)),)) for c in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, the first: {failures[0]}")
    return wall, latencies, sum(spent)


def batched(jobs: int, budget: int, algorithm: str) -> float:
    """Seconds of one `noisesearch.search` over as many searches (loading apart), the server's settings."""
    from noisesearch.api import search

    per_condition = -(-jobs // 10)
    run = search(classes=list(range(10)), per_condition=per_condition, pipeline="digits", algorithm=algorithm,
                 budget_nfe=budget, batch_size=8, pad_chunks=True)
    return run.cost.elapsed_s * jobs / len(run)


def one_by_one(jobs: int, budget: int, algorithm: str) -> float:
    """Seconds of as many searches run one after another (each its own `noisesearch.search`): their sum."""
    from noisesearch.api import search

    spent = 0.0
    for i in range(jobs):
        spent += search(classes=[i % 10], seed=i, pipeline="digits", algorithm=algorithm, budget_nfe=budget,
                        batch_size=8, pad_chunks=True).cost.elapsed_s
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--devices", type=int, default=1, help="CPU workers of the server")
    parser.add_argument("--budget", type=int, default=77, help="NFEs per search")
    parser.add_argument("--algorithm", default="random")
    args = parser.parse_args()

    from noisesearch.testing.serving import Server

    with tempfile.TemporaryDirectory() as folder:
        server = Server(Path(folder) / "jobs", "--devices", str(args.devices), "--jobs_per_worker", "16",
                        model=["--model.pipeline", "digits", "--model.budget_nfe", str(args.budget)]).start()
        try:
            wall, latencies, nfe = load(server, args.jobs, args.clients, args.budget, args.algorithm)
        finally:
            server.kill()
    alone = batched(args.jobs, args.budget, args.algorithm)
    summed = one_by_one(args.jobs, args.budget, args.algorithm)
    print(f"serve: {args.jobs} jobs (one {args.algorithm} search of {args.budget} NFEs each) from {args.clients} "
          f"clients, {args.devices} CPU worker(s)")
    print(f"  wall {wall:.2f} s: {args.jobs / wall:.2f} searches/s, {nfe / wall:.0f} NFEs/s")
    print(f"  latency p50 {percentile(latencies, 0.5):.2f} s, p99 {percentile(latencies, 0.99):.2f} s, "
          f"mean {statistics.mean(latencies):.2f} s")
    print(f"  one batched search of {args.jobs} searches: {alone:.2f} s; serve / batched = {wall / alone:.2f}")
    print(f"  the same searches one by one: {summed:.2f} s; serve / one by one = {wall / summed:.2f}")


if __name__ == "__main__":
    main()
