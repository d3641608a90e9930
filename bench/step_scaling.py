"""What a Dask night can gain on this machine: ``.venv/bin/python -m bench.step_scaling [--steps N]``.

Times forward + backward + AdamW steps of the default student (``build_student`` with the default
``StudentConfig``: Llama, hidden 128, 4 layers, tied embeddings, a locally trained BPE vocabulary
of 600) on a batch of 64 x 96 tokens, each setting in a fresh process:

* one process, torch on 1 thread, then on every core (what a sequential night does);
* one process on 1 thread with ``MALLOC_TRIM_THRESHOLD_=65536`` (what Dask's nanny sets in workers);
* one 1-thread process per core at once (what local Dask workers do: they share the cores);
* one process per core at once, each on every core (what local workers did before they shared).

The ceiling of a LocalCluster's gain on training is (steps/s of the processes at once) / (steps/s
of one process on every core): students train in parallel only as far as torch leaves cores idle.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from typing import Any

CHILD = "--child"


def default_student(examples: int) -> tuple[Any, list[Any], Any, Any]:
    """``(StudentConfig(), school examples, tokenizer, model)``: the student ``academy student
    init`` builds, with a tokenizer trained on ``examples`` school examples (seed 0)."""
    from academy.config import StudentConfig
    from academy.school import School
    from models.student import build_student, train_tokenizer

    shape = StudentConfig()
    school = School(seed=0).generate(examples)
    texts = [text for e in school for text in (e.query, e.reference, e.reasoning or "")]
    tokenizer = train_tokenizer(texts, shape.vocab_size)
    return shape, school, tokenizer, build_student(shape, tokenizer)


def time_steps(threads: int, steps: int) -> float:
    """Milliseconds per training step (after 2 warm-up steps) of the student ``academy student
    init`` builds, in this process."""
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    shape, _, _, model = default_student(500)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    batch = torch.randint(0, model.config.vocab_size, (shape.batch_size, shape.max_length))
    for step in range(steps + 2):
        if step == 2:
            started = time.perf_counter()
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    return (time.perf_counter() - started) / steps * 1000


def spawn(threads: int, steps: int, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bench.step_scaling", CHILD, str(threads), str(steps)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def result(process: subprocess.Popen) -> float:
    out, _ = process.communicate()
    return float(out.strip().splitlines()[-1])


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == CHILD:
        print(time_steps(int(sys.argv[2]), int(sys.argv[3])))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    steps = parser.parse_args().steps
    cores = os.cpu_count() or 1
    one = result(spawn(1, steps))
    every = result(spawn(cores, steps))
    trimmed = result(spawn(1, steps, {"MALLOC_TRIM_THRESHOLD_": "65536"}))
    together = [result(p) for p in [spawn(1, steps) for _ in range(cores)]]
    crowded = [result(p) for p in [spawn(cores, steps) for _ in range(cores)]]
    ceiling = (cores / max(together)) / (1 / every)
    print(f"ms per step, {steps} steps, default student shape, {cores} cores")
    print(f"  1 process, 1 thread:                 {one:7.0f}")
    print(f"  1 process, {cores} threads:                {every:7.0f}   ({one / every:.2f}x of 1 thread)")
    print(f"  1 thread, MALLOC_TRIM_THRESHOLD_=65536: {trimmed:5.0f}   ({trimmed / one:.2f}x slower)")
    print(f"  {cores} processes x 1 thread at once:     {max(together):7.0f}   (each)")
    print(f"  {cores} processes x {cores} threads at once:    {max(crowded):7.0f}   (each)")
    print(f"ceiling of a {cores}-worker LocalCluster over sequential, balanced students: {ceiling:.2f}x")


if __name__ == "__main__":
    main()
