"""How much cheaper is a student's answer in a batch? The evidence behind the demo's requests in flight.

A student generates token by token (``HFBackend``: greedy ``generate``, reasoning first); each decoding
step costs about the same whatever the batch size on a model this small, so the router's
micro-batcher only pays off when many requests are in flight at once (academy/simulation/day.py
``CONCURRENCY``). For each ``--batch`` size this times ``--queries`` school queries through one
student in batches of that size, one torch thread (as the router's batcher runs), and prints the
milliseconds per query and per batch.

Run: ``.venv/bin/python bench/gen_batch.py --student .academy/demo/students/student-1`` (about
half a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from academy.backends.hf import HFBackend
from academy.config import ModelConfig
from academy.school import School


def per_query_ms(backend: HFBackend, queries: list[str], batch: int) -> tuple[float, float]:
    """(ms per query, ms per batch) generating ``queries`` in batches of ``batch``."""
    backend.generate(queries[:batch])  # warm up: weights loaded, kernels chosen
    started = time.perf_counter()
    for i in range(0, len(queries), batch):
        backend._generate_batch(queries[i : i + batch])  # unbilled: the micro-batcher's call
    elapsed = (time.perf_counter() - started) * 1000
    return elapsed / len(queries), elapsed / -(-len(queries) // batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", type=Path, required=True, help="a student's folder (config + weights)")
    parser.add_argument("--batch", default="1,8,16,64", help="comma-separated batch sizes")
    parser.add_argument("--queries", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=88, help="academy.yaml's student default")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    config = ModelConfig(
        name="student",
        backend="hf",
        role="student",
        price_in=0.0,
        price_out=0.0,
        options={"path": str(args.student.resolve()), "max_new_tokens": args.max_new_tokens},
    )
    backend = HFBackend(config)
    domains = ["arithmetic", "units", "reverse", "capitals", "sorting", "compare"]
    queries = [e.query for e in School(seed=7, domains=domains).generate(args.queries)]
    print(f"{'batch':>6} {'ms/query':>9} {'ms/batch':>9}")
    for batch in (int(b) for b in args.batch.split(",")):
        query_ms, batch_ms = per_query_ms(backend, queries, batch)
        print(f"{batch:>6} {query_ms:>9.1f} {batch_ms:>9.1f}")


if __name__ == "__main__":
    main()
