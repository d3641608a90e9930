"""How the novelty threshold splits school traffic: the evidence behind ``router.novel_similarity``.

For a stream of school queries, each query's most similar *earlier* query is found; for each
threshold tau this prints the share of queries that would be familiar (max similarity >= tau) and,
among those, how often the nearest neighbour is of the same domain (a neighbourhood worth trusting).
Run: ``.venv/bin/python bench/similarity.py [--queries 600] [--fp32]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from academy.config import EmbedderConfig
from academy.embedder import Embedder
from academy.school import School

THRESHOLDS = (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)


def familiarity_table(vectors: np.ndarray, domains: np.ndarray) -> list[dict[str, float]]:
    similarity = vectors @ vectors.T
    similarity[np.triu_indices(len(vectors))] = -1.0  # only earlier queries count
    nearest, best = similarity.argmax(axis=1)[1:], similarity.max(axis=1)[1:]
    same_domain = domains[nearest] == domains[1:]
    rows = []
    for tau in THRESHOLDS:
        familiar = best >= tau
        rows.append(
            {
                "tau": tau,
                "familiar_share": float(familiar.mean()),
                "nearest_same_domain": float(same_domain[familiar].mean())
                if familiar.any()
                else float("nan"),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fp32", action="store_true", help="unquantised embedder")
    args = parser.parse_args()
    examples = School(seed=args.seed).generate(args.queries)
    with Embedder(EmbedderConfig(quantize=not args.fp32)) as embedder:
        vectors = embedder.embed([e.query for e in examples])
    print(f"{args.queries} school queries, embedder {'fp32' if args.fp32 else 'int8'}")
    print(f"{'tau':>5} {'familiar':>9} {'nn same domain':>15}")
    for row in familiarity_table(vectors, np.array([e.domain for e in examples])):
        print(f"{row['tau']:>5.2f} {row['familiar_share']:>9.3f} {row['nearest_same_domain']:>15.3f}")


if __name__ == "__main__":
    main()
