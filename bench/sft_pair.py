"""Two students' SFT at once on local Dask workers: ``.venv/bin/python -m bench.sft_pair [--steps N]``.

Times ``sft_train`` of the default student (``academy student init``'s shape, 600 school
examples, batch 64) in milliseconds per step, dataset preparation included, on a LocalCluster
started as the night's runner starts it (``keep_dynamic_malloc``):

* one run alone on a 1-worker cluster, training on every core;
* two runs at once on 2 workers, each training on every core (local workers before they shared);
* two runs at once on 2 workers with ``worker_thread_env`` (what local workers do now).

``bench.step_scaling`` shows the same effect in a bare torch loop; this one is the real SFT path
(TRL, tokenizers, the Trainer's data loader).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def time_sft(steps: int) -> float:
    """Milliseconds per step of one ``sft_train`` of the default student, in this process."""
    from bench.step_scaling import default_student
    from models.train import sft_train

    shape, examples, tokenizer, model = default_student(600)
    pairs = [(e.query, e.reference, e.reasoning) for e in examples]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        sft_train(model, tokenizer, pairs, Path(out), steps, shape.learning_rate, shape.batch_size)
    return (time.perf_counter() - started) / steps * 1000


def on_cluster(runs: int, steps: int, env: dict[str, str]) -> list[float]:
    """``runs`` SFT runs at once, one per worker of a fresh LocalCluster with ``env``."""
    from distributed import Client, LocalCluster

    from academy.execution import keep_dynamic_malloc

    keep_dynamic_malloc()
    with (
        LocalCluster(n_workers=runs, threads_per_worker=1, dashboard_address=None, env=env) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(runs)
        futures = [client.submit(time_sft, steps, pure=False) for _ in range(runs)]
        return client.gather(futures)


def main() -> None:
    from academy.execution import worker_thread_env

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    steps = parser.parse_args().steps
    alone = on_cluster(1, steps, {})
    crowded = on_cluster(2, steps, {})
    shared = on_cluster(2, steps, worker_thread_env(2))
    print(f"sft_train ms per step, {steps} steps, default student, dataset preparation included")
    print(f"  1 run alone, every core:               {alone[0]:7.0f}")
    print(f"  2 runs at once, each on every core:    {max(crowded):7.0f}   (slower of the two)")
    print(f"  2 runs at once, sharing the cores:     {max(shared):7.0f}   (slower of the two)")


if __name__ == "__main__":
    main()
