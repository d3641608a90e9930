"""Streams a real outcome data set through Academy's router, learning online, and measures it.

The router is the server's: ``ROUTER_CLS`` builds the configured policy (``academy``) over
``replay`` backends that answer what each model answered when the data was recorded, and the
``recorded`` judge that reveals a recorded score at ``judge.cost_per_call``. The router learns
only what it paid to see: a fanned-out (novel) query reveals every model's outcome and pays every
model and a judge call per answer; a familiar query reveals the served model's outcome only when
the judge is called (``judge_rate``, exploration). On the stream's "nights" (see ``_OnlineTrainer``) a learned quality model is trained on the judged traffic so far and replaces the serving
one only if it passes the same gate as the nightly flow (``train_and_gate``).

One run per ``price_weight`` gives one operating point (cost share, quality); together they are
the router's curve.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from academy.backends import build_backend
from academy.config import AcademyConfig, JudgeConfig, ModelConfig
from academy.judges import build_judge
from academy.replay.memory_store import MemoryTrafficStore
from academy.replay.sets import ReplaySet
from academy.routing import ROUTER_CLS, Router, RouteRequest
from academy.routing.evidence import Judged
from academy.routing.learned_router import judged_matrix, train_and_gate
from academy.store import AnswerRecord, QueryRecord, TrafficStore

TENANT = "replay"


@dataclass
class StreamResult:
    """One online run: what it served, what it cost, and how its learned router evolved."""

    price_weight: float
    cost: float  # everything paid: answers, fan-out, exploration, judge calls
    strong_cost: float  # always-strong on the same queries
    quality: float  # mean recorded score of the answers returned
    routes: dict[str, int]
    served: dict[str, int]
    judge_calls: int
    retrains: list[dict[str, float | int | bool | str]] = field(default_factory=list)
    seconds: float = 0.0
    decisions: list[tuple[int, str, str]] = field(
        default_factory=list
    )  # (row, served model, route) in stream order

    @property
    def cost_share(self) -> float:
        return self.cost / self.strong_cost


def replay_config(base: AcademyConfig, data: ReplaySet, outcomes: Path, price_weight: float) -> AcademyConfig:
    """The server's config with the data set's models as ``replay`` backends, the ``recorded``
    judge, and the replay section's router settings. Prices are each model's mean recorded cost
    per call, so ``price / teacher price`` is the real cost ratio."""
    replay = base.replay
    models = [
        ModelConfig(
            name=model,
            backend="replay",
            role=_role(data, model),
            price_in=data.mean_cost(model),
            price_out=data.mean_cost(model),
            options={"path": str(outcomes), "model": model},
        )
        for model in data.models
    ]
    judge = JudgeConfig(
        name="recorded",
        cost_per_call=replay.judge_cost_ratio * data.mean_cost(data.strong),
        options={"path": str(outcomes)},
    )
    learned = base.router.learned.model_copy(
        update={"novel_fanout_rate": replay.novel_fanout_rate, "prior_weight": replay.learned_prior_weight}
    )
    router = base.router.model_copy(
        update={
            "price_weight": price_weight,
            "quality_floor": 0.0,
            # the replay traces the whole cost-quality curve by price weight, not one target's point
            "budget": base.router.budget.model_copy(update={"enabled": False}),
            "shadow_rate": replay.shadow_rate,
            "explore_rate": replay.explore_rate,
            "judge_rate": replay.judge_rate,
            "seed": replay.seed,
            "learned": learned,
            # Recorded answers are long or free-form in most sets: exact-match agreement with the
            # strong model's text says little there, so only the recorded judge scores answers.
            # A fan-out reveals every model's recorded outcome (the replay's contract): the strong
            # model's answer is judged too.
            "evidence": base.router.evidence.model_copy(
                update={"agreement": False, "judge_teacher_in_fanout": True}
            ),
        }
    )
    return base.model_copy(update={"models": models, "judge": judge, "router": router})


def _role(data: ReplaySet, model: str) -> str:
    """The strong (reference) model is the router's teacher, the fallback; the others are students."""
    return "teacher" if model == data.strong else "student"


def stream_order(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(n)


async def replay_stream(
    base: AcademyConfig,
    data: ReplaySet,
    embeddings: np.ndarray,
    outcomes: Path,
    price_weight: float,
    store: MemoryTrafficStore | TrafficStore | None = None,
    prior_embeddings: np.ndarray | None = None,
) -> StreamResult:
    """Route every query of ``data`` once, in a seeded shuffled order, learning as it goes.
    ``store``: another store with the same contract (the tests pass a LanceDB ``TrafficStore``, with
    ``warmup_queries`` beyond the stream: the nights read ``MemoryTrafficStore.judged_rows``).
    With ``data.prior`` and its embeddings, the store starts with that traffic (not charged: it
    was paid before the stream) and the first night runs before the first query."""
    started = time.perf_counter()
    config = replay_config(base, data, outcomes, price_weight)
    store = store if store is not None else MemoryTrafficStore(config.store)
    router = _router(config, store)
    order = stream_order(len(data), config.replay.seed)
    served_rows: list[tuple[int, str, str]] = []
    trainer = _OnlineTrainer(config)
    prior_cost, prior_judged = 0.0, 0
    if data.prior is not None and prior_embeddings is not None:
        prior_cost = log_prior_traffic(store, data.prior, prior_embeddings, config.judge.cost_per_call)
        prior_judged = len(data.prior) * len(data.prior.models)
        if router.evidence is not None:  # what a runtime loads from its store when it starts
            router.evidence.add_many(prior_evidence(data.prior, prior_embeddings))
        trainer.retrain(router, store, 0)
    try:
        for start in range(0, len(order), config.replay.concurrency):
            batch = order[start : start + config.replay.concurrency]
            results = await asyncio.gather(*(router.route(_request(data, embeddings, int(i))) for i in batch))
            await router.drain()
            served_rows += [(int(i), r.model, r.route) for i, r in zip(batch, results)]
            trainer.maybe_retrain(router, store, start + len(batch))
    finally:
        await asyncio.gather(*(b.aclose() for b in router.backends.values()), router.judge.aclose())
    return _result(
        data,
        store,
        served_rows,
        price_weight,
        trainer.log,
        time.perf_counter() - started,
        prior_cost,
        prior_judged,
    )


def prior_evidence(prior: ReplaySet, embeddings: np.ndarray) -> list[Judged]:
    """Every recorded outcome of the prior traffic, as the router's judged evidence."""
    return [
        Judged(TENANT, model, None, embeddings[row], float(prior.scores[row, j]), float(row))
        for row in range(len(prior.queries))
        for j, model in enumerate(prior.models)
        if not np.isnan(prior.scores[row, j])
    ]


def log_prior_traffic(
    store: MemoryTrafficStore | TrafficStore, prior: ReplaySet, embeddings: np.ndarray, judge_cost: float
) -> float:
    """Log ``prior`` as fanned-out traffic: every model answered and judged (as the novel route
    logs it). Returns what it cost then, which the stream does not pay again."""
    scores, total = np.nan_to_num(prior.scores, nan=0.0), 0.0
    for row, query in enumerate(prior.queries):
        answers = [
            AnswerRecord(
                model=model,
                role=_role(prior, model),
                purpose="fanout",
                text=f"[{model}]",
                cost=float(prior.costs[row, j]),
                judge_score=float(scores[row, j]),
                judge_name="recorded",
                judge_cost=judge_cost,
            )
            for j, model in enumerate(prior.models)
        ]
        best = max(range(len(prior.models)), key=lambda j: (scores[row, j], -prior.costs[row, j]))
        cost = float(prior.costs[row].sum()) + judge_cost * len(answers)
        store.log(
            QueryRecord(
                id=f"{prior.name}-{row}",
                tenant=TENANT,
                text=query,
                embedding=embeddings[row],
                route="novel",
                final_model=prior.models[best],
                final_answer=answers[best].text,
                total_cost=cost,
                final_score=float(scores[row, best]),
                domain=prior.groups[row],
            ),
            answers,
        )
        total += cost
    return total


def _router(config: AcademyConfig, store: MemoryTrafficStore | TrafficStore) -> Router:
    backends = {m.name: build_backend(m) for m in config.models}
    judge = build_judge(config.judge)
    return ROUTER_CLS.get(config.router.name)(config.router, backends, judge, store, _no_embedder)


async def _no_embedder(text: str) -> np.ndarray:
    raise RuntimeError("the replay passes precomputed embeddings with every request")


def _request(data: ReplaySet, embeddings: np.ndarray, row: int) -> RouteRequest:
    return RouteRequest(
        data.queries[row],
        TENANT,
        request_id=f"{data.name}-{row}",
        domain=data.groups[row],
        embedding=embeddings[row],
    )


class _OnlineTrainer:
    """The stream's nights: after ``warmup_queries``, then as the stream grows (``retrain_growth``,
    at most ``retrain_every`` apart)."""

    def __init__(self, config: AcademyConfig) -> None:
        self.replay = config.replay
        self.training = config.evolution.learned_router
        self.next_at = self.replay.warmup_queries
        self.log: list[dict[str, float | int | bool | str]] = []

    def maybe_retrain(self, router: Router, store: MemoryTrafficStore, routed: int) -> None:
        if routed < self.next_at:
            return
        self.next_at = routed + min(
            self.replay.retrain_every, max(1, int(routed * (self.replay.retrain_growth - 1)))
        )
        self.retrain(router, store, routed)

    def retrain(self, router: Router, store: MemoryTrafficStore, routed: int) -> None:
        """One night: train a candidate on every judged query so far; it serves if it passes the gate."""
        data = judged_matrix(store.judged_rows())
        if len(data) < self.training.min_queries:
            return
        candidate, gate = train_and_gate(
            data,
            router.learned_router,
            holdout_fraction=self.training.holdout_fraction,
            margin=self.training.margin,
            l2=self.training.l2,
            min_rows=self.training.min_rows,
        )
        if gate.passed:
            router.learned_router = candidate
        self.log.append(
            {"after_queries": routed, "judged_queries": len(data), "promoted": gate.passed, **gate.metrics()}
        )


def _result(
    data: ReplaySet,
    store: MemoryTrafficStore | TrafficStore,
    served_rows: list[tuple[int, str, str]],
    price_weight: float,
    retrains: list[dict[str, float | int | bool | str]],
    seconds: float,
    prior_cost: float,
    prior_judged: int,
) -> StreamResult:
    scores = np.nan_to_num(data.scores, nan=0.0)
    quality = float(np.mean([scores[row, data.column(model)] for row, model, _ in served_rows]))
    routes = dict(Counter(route for _, _, route in served_rows))
    served = dict(Counter(model for _, model, _ in served_rows))
    cost, judge_calls = _logged_totals(store)
    cost -= prior_cost
    judge_calls -= prior_judged
    return StreamResult(
        price_weight=price_weight,
        cost=cost,
        strong_cost=float(data.costs[:, data.column(data.strong)].sum()),
        quality=quality,
        routes=routes,
        served=served,
        judge_calls=judge_calls,
        retrains=retrains,
        seconds=seconds,
        decisions=served_rows,
    )


def _logged_totals(store: MemoryTrafficStore | TrafficStore) -> tuple[float, int]:
    """Everything the router paid (answers and judge calls, background ones included) and how many
    judge calls, read back from what it logged."""
    if isinstance(store, MemoryTrafficStore):
        judged = sum(1 for answers in store.answers for a in answers if a.judge_name)
        return float(sum(q.total_cost for q in store.queries)), judged
    answers = store.answers_frame()
    return float(store.queries_frame()["total_cost"].sum()), int(answers["judge_name"].notna().sum())
