"""``academy``: the seed's query flow. Novel queries fan out and are judged; familiar ones go to the
best past performer of their neighbourhood, weighing quality against price.

The decision itself (``estimate_quality``, ``choose_model``) is pure, so it is tested on controlled
neighbourhoods and reused by benchmarks; ``route`` adds the I/O around it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from academy.backends.base import Backend, BackendOverloaded, Completion
from academy.backends.reference import unit_draw
from academy.config import RouterConfig
from academy.judges.base import AGREEMENT_JUDGE, Judgement, JudgeRequest
from academy.judges.reference import reference_scores
from academy.routing.base import (
    ROUTER_CLS,
    ModelAnswer,
    OverloadedError,
    Router,
    RouteRequest,
    RouteResult,
)
from academy.routing.evidence import Judged, Posterior, explore_probability, known_short
from academy.routing.quality_model import QualityModel
from academy.store import AnswerRecord, Neighbour, QueryRecord, split_model_key

log = logging.getLogger(__name__)
RETRY_AFTER = "retry_after"  # Completion.extra key: the backend refused the call as overloaded


@dataclass(frozen=True)
class Estimate:
    """Similarity-weighted mean judge score of one model over a neighbourhood, and its evidence
    (the sum of the weights: how many judged neighbours it rests on, discounted by distance).
    ``lower`` / ``upper``: the posterior's confidence bounds where the estimator gives them
    (``router.estimator: evidence``); a model is then served only when ``lower`` clears the floor."""

    quality: float
    evidence: float
    lower: float | None = None
    upper: float | None = None
    prior: float = 0.0  # pseudo-observations of the learned prior behind the bounds (counts for min_evidence)

    @property
    def bound(self) -> float:
        """What the floor is checked against: the lower bound when known, else the mean."""
        return self.quality if self.lower is None else self.lower


class NoAnswerError(RuntimeError):
    """No model produced an answer (every backend failed); the server answers 502."""


@dataclass
class Decision:
    """Where a request goes and why, before any model is called."""

    embedding: np.ndarray
    max_similarity: float | None
    estimates: dict[str, Estimate]
    route: str
    model: str | None
    reason: str
    decision_ms: float
    allowed: list[str] | None = None  # the models this request may use (None: all)


def estimate_quality(
    neighbours: Sequence[Neighbour],
    versions: dict[str, str | None] | None = None,
    other_version_weight: float = 0.0,
) -> dict[str, Estimate]:
    """Each model's expected score here, from the judge scores of the k nearest past queries.

    With ``versions`` (model -> the registry version served now), a score earned by another
    version of a model counts ``other_version_weight`` times as much as its own: 0 = a newly
    promoted student starts from its own evidence only; the gate refuses a version that regressed
    a traffic cluster beyond ``gate.max_regression`` with confidence, so its predecessor's record is
    a fair prior until its own evidence arrives (without one, every nightly promotion sent its
    traffic back to the teacher).
    """
    versions = versions or {}
    weighted: dict[str, float] = {}
    weights: dict[str, float] = {}
    for neighbour in neighbours:
        similarity = max(float(neighbour.similarity), 0.0)
        for key, score in zip(neighbour.judged_models, neighbour.judged_scores):
            model, version = split_model_key(key)
            if score is None or np.isnan(score):
                continue
            weight = similarity * (
                other_version_weight if model in versions and versions[model] != version else 1.0
            )
            if weight <= 0:
                continue
            weighted[model] = weighted.get(model, 0.0) + weight * float(score)
            weights[model] = weights.get(model, 0.0) + weight
    return {m: Estimate(weighted[m] / weights[m], weights[m]) for m in weights if weights[m] > 0}


def blend_learned(
    estimates: dict[str, Estimate], predicted: dict[str, float], prior_weight: float
) -> dict[str, Estimate]:
    """Each model's kNN estimate shrunk towards the learned prediction, which counts as
    ``prior_weight`` judged neighbours: where the neighbourhood is well judged the kNN evidence
    dominates; where it is empty (a novel query) the learned prediction decides alone."""
    if prior_weight <= 0:
        return estimates
    blended = dict(estimates)
    for model, prediction in predicted.items():
        knn = estimates.get(model, Estimate(0.0, 0.0))
        evidence = knn.evidence + prior_weight
        quality = (knn.quality * knn.evidence + prediction * prior_weight) / evidence
        blended[model] = Estimate(quality, evidence)
    return blended


def choose_model(
    estimates: dict[str, Estimate],
    prices: dict[str, float],
    teacher: str,
    config: RouterConfig,
    allowed: Collection[str] | None = None,
) -> tuple[str, str]:
    """argmax(quality - lambda * price / teacher price) over the allowed models estimated above the
    floor with enough evidence; else the default model (:func:`default_model`). Returns (model, reason)."""
    teacher_price = prices[teacher] or 1.0
    permitted = set(prices) if allowed is None else set(allowed) & set(prices)
    eligible = {
        model: est.quality - config.price_weight * prices[model] / teacher_price
        for model, est in estimates.items()
        if model in permitted
        and est.evidence + est.prior >= config.min_evidence
        and est.bound >= config.quality_floor
    }
    if not eligible:
        model = default_model(estimates, prices, teacher, permitted)
        if model == teacher:
            return teacher, "no model estimated above the quality floor: teacher"
        return model, "no model estimated above the quality floor, teacher not allowed: best allowed estimate"
    best = max(eligible, key=lambda m: (eligible[m], -prices[m]))
    return best, f"best quality-price trade-off (utility {eligible[best]:.3f})"


def default_model(
    estimates: dict[str, Estimate], prices: dict[str, float], teacher: str, allowed: Collection[str]
) -> str:
    """Who answers when nothing cheaper is known to be good enough: the teacher, or where a tier
    forbids it, the allowed model with the highest estimated quality (unestimated ones last; ties go
    to the priciest, the most capable by its price)."""
    if teacher in allowed:
        return teacher
    return max(
        sorted(allowed),
        key=lambda m: (estimates[m].quality if m in estimates else -math.inf, prices.get(m, 0.0)),
    )


def _posterior_of(estimate: Estimate) -> Posterior:
    """The evidence posterior behind an estimate (bounds present), for the exploration rule."""
    return Posterior(estimate.quality, estimate.evidence, estimate.lower or 0.0, estimate.upper or 1.0)


def overload_of(answer: ModelAnswer) -> float | None:
    """Seconds until the answer's model expects a free slot, if it refused the call as overloaded."""
    return answer.completion.extra.get(RETRY_AFTER)


def pick_best(answers: Sequence[ModelAnswer]) -> ModelAnswer | None:
    """Highest judged score; ties go to the cheaper answer. None when nothing was judged."""
    judged = [a for a in answers if a.score is not None and not a.completion.error]
    if not judged:
        return None
    return max(judged, key=lambda a: (a.score, -(a.completion.cost or 0.0)))


@ROUTER_CLS.register("academy")
class AcademyRouter(Router):
    """Novel -> fan out to every active model and judge; familiar -> estimated best value."""

    @property
    def teacher(self) -> str:
        return next(name for name, b in self.backends.items() if b.role == "teacher")

    @property
    def prices(self) -> dict[str, float]:
        return {name: b.config.blended_price for name, b in self.backends.items()}

    @property
    def versions(self) -> dict[str, str | None]:
        """The registry version each model serves now (None: unversioned, e.g. a local directory)."""
        return {name: getattr(b, "version", None) for name, b in self.backends.items()}

    def students(self) -> list[str]:
        return [name for name, b in self.backends.items() if b.role != "teacher"]

    async def decide(self, request: RouteRequest) -> Decision:
        """Embed, search the tenant's past traffic, estimate and choose: everything but generation.
        The overhead benchmark times exactly this."""
        started = time.perf_counter()
        allowed = self.allowed_models(request)  # before any work: a forbidden request costs nothing
        embedding = request.embedding if request.embedding is not None else await self.embed(request.query)
        neighbours = await self.store.asearch(embedding, request.tenant, self.config.neighbours)
        max_similarity = max((n.similarity for n in neighbours), default=None)
        learned = self.learned_model()
        predicted = {}
        if learned is not None:
            predicted = {m: q for m, q in learned.predict_one(embedding).items() if m in self.backends}
        if self.evidence is not None:
            estimates = self.evidence_estimates(request.tenant, embedding, predicted)
        else:
            estimates = estimate_quality(neighbours, self.versions, self.config.other_version_weight)
            if predicted:
                estimates = blend_learned(estimates, predicted, self.config.learned.prior_weight)
        if self._fans_out(request, max_similarity, learned is not None):
            route, model, reason = (
                "novel",
                None,
                "no close neighbour: every model answered, the judge picked the best",
            )
        else:
            route = "familiar"
            model, reason = choose_model(estimates, self.prices, self.teacher, self.config, allowed)
            if max_similarity is None or max_similarity < self.config.novel_similarity:
                reason = f"no close neighbour, learned estimate: {reason}"
        decision_ms = (time.perf_counter() - started) * 1000
        return Decision(
            np.asarray(embedding, dtype=np.float32),
            max_similarity,
            estimates,
            route,
            model,
            reason,
            decision_ms,
            allowed,
        )

    def evidence_estimates(
        self, tenant: str, embedding: np.ndarray, predicted: dict[str, float]
    ) -> dict[str, Estimate]:
        """Each model's posterior near the query from its own judged answers (academy/routing/evidence.py),
        the learned router's prediction as its prior."""
        estimates = {}
        versions = self.versions
        for model in self.backends:
            # the learned prediction counts as ``prior_weight`` judged answers (as in blend_learned)
            prior = self.config.learned.prior_weight if model in predicted else 0.0
            post = self.evidence.estimate(
                tenant, model, embedding, versions.get(model), predicted.get(model), prior
            )
            estimates[model] = Estimate(post.quality, post.evidence, post.lower, post.upper, prior)
        return estimates

    def learned_model(self) -> QualityModel | None:
        """The registry's learned quality model, when one is loaded and enabled in config."""
        return self.quality_model if self.config.learned.enabled else None

    def _fans_out(self, request: RouteRequest, max_similarity: float | None, learned: bool) -> bool:
        """Novel (no close neighbour) queries fan out; with a learned model only a sampled share
        of them does (``learned.novel_fanout_rate``): the rest are routed on its estimate."""
        if max_similarity is not None and max_similarity >= self.config.novel_similarity:
            return False
        if not learned:
            return True
        draw = unit_draw(self.config.seed, request.request_id, "fanout")
        return draw < self.config.learned.novel_fanout_rate

    async def route(self, request: RouteRequest) -> RouteResult:
        started = time.perf_counter()
        decision = await self.decide(request)
        if decision.route == "novel":
            return await self._novel(request, decision, started)
        return await self._familiar(request, decision, started)

    # -- novel ---------------------------------------------------------------------------------

    async def _novel(self, request: RouteRequest, decision: Decision, started: float) -> RouteResult:
        allowed = decision.allowed or list(self.backends)
        answers = await self._ask_all(request, allowed, "fanout")
        self._score_by_agreement(request, answers, decision.embedding)
        targets = None
        if self.evidence is not None and not self.config.evidence.judge_teacher_in_fanout:
            targets = [a for a in answers if a.model != self.teacher]
        await self._judge(request, answers, decision.embedding, targets)
        reason = decision.reason
        best = self._best_of_fanout(answers, decision) or self._unjudged_answer(answers, decision)
        if best is None:  # every model failed: the default model's chain gets a second chance
            default = self._default(decision)
            best, chain_answers = await self._serve_chain(request, self._fallbacks(default, decision, []))
            answers += chain_answers
            if best is None:
                raise self._failure(answers, "every model failed")
            reason = f"every model failed in the fan-out; {self._fallback_reason(chain_answers)}"
        best.purpose = "serve"
        result = self._result(request, decision, best, answers, started, reason)
        await self._record(request, decision.embedding, result, answers, final=True)
        return result

    def _score_by_agreement(
        self, request: RouteRequest, answers: list[ModelAnswer], embedding: np.ndarray
    ) -> None:
        """Where the teacher answered too, score each cheaper answer by exact match with the
        teacher's (``router.evidence.agreement``): evidence at no judge cost, from an answer that
        was paid for anyway. Only the supervisor's scores stay the reference for training and gates:
        the nightly datasets never learn from an agreement-scored answer."""
        if self.evidence is None or not self.config.evidence.agreement:
            return
        teacher = next((a for a in answers if a.model == self.teacher and not a.completion.error), None)
        others = [a for a in answers if a is not teacher and a.judgement is None and not a.completion.error]
        if teacher is None or not others:
            return
        texts = [a.completion.text for a in others]
        for answer, score in zip(
            others, reference_scores(texts, [teacher.completion.text] * len(texts), 1.0)
        ):
            answer.judgement = Judgement(float(score), 0.0, AGREEMENT_JUDGE)
        self.evidence.add_many(Judged(request.tenant, a.model, a.version, embedding, a.score) for a in others)

    def _best_of_fanout(self, answers: list[ModelAnswer], decision: Decision) -> ModelAnswer | None:
        """The best judged answer; an unjudged teacher answer counts at the teacher's estimated
        quality here (1.0 without evidence), so a student wins only by matching it in the judge's
        eyes (one scored merely by agreeing with it wins nothing: the teacher's answer is the same
        and is paid for already)."""
        best = pick_best(answers)
        teacher = next(
            (
                a
                for a in answers
                if a.model == self.teacher and a.judgement is None and not a.completion.error
            ),
            None,
        )
        if teacher is None:
            return best
        estimate = decision.estimates.get(self.teacher)
        expected = estimate.quality if estimate is not None and estimate.evidence > 0 else 1.0
        beaten = best is not None and (best.score or 0.0) >= expected  # ties go to the cheaper answer
        agreed_only = (
            best is not None and best.judgement is not None and best.judgement.judge == AGREEMENT_JUDGE
        )
        if not beaten or agreed_only:
            return teacher
        return best

    def _unjudged_answer(self, answers: list[ModelAnswer], decision: Decision) -> ModelAnswer | None:
        """Nothing judged (the judge failed): the default model's answer, else the priciest answer."""
        ok = [a for a in answers if not a.completion.error]
        default = self._default(decision)
        preferred = [a for a in ok if a.model == default]
        by_price = sorted(ok, key=lambda a: -self.prices.get(a.model, 0.0))
        return (preferred + by_price or [None])[0]

    def _default(self, decision: Decision) -> str:
        return default_model(
            decision.estimates, self.prices, self.teacher, decision.allowed or list(self.backends)
        )

    # -- familiar ------------------------------------------------------------------------------

    async def _familiar(self, request: RouteRequest, decision: Decision, started: float) -> RouteResult:
        chosen, reason = decision.model or self._default(decision), decision.reason
        chain = [chosen, *self._fallbacks(chosen, decision, [chosen])]
        served, attempts = await self._serve_chain(request, chain)
        if served is None:
            raise self._failure(attempts, f"{chosen} and its fallbacks failed")
        if len(attempts) > 1:
            reason = self._fallback_reason(attempts)
        result = self._result(request, decision, served, attempts, started, reason)
        await self._record(request, decision.embedding, result, attempts, final=False)
        side_models = self._side_models(request, served.model, decision.allowed, decision)
        monitored = unit_draw(self.config.seed, request.request_id, "judge") < self.config.judge_rate
        # With the evidence estimator, exploring a cheaper model judges that model's answer only:
        # the served teacher's answer is the default and judging it teaches the router nothing.
        judge_served = monitored or (bool(side_models) and self.evidence is None)
        self.spawn(
            self._shadow_and_log(request, decision.embedding, result, attempts, side_models, judge_served)
        )
        return result

    def _side_models(
        self,
        request: RouteRequest,
        served: str,
        allowed: list[str] | None = None,
        decision: Decision | None = None,
    ) -> list[tuple[str, str]]:
        """Models asked in the background: students shadowing (share ``shadow_rate``) and one random
        other model for exploration (share ``explore_rate``), so estimates stay fresh. Only models
        the request may use: a tier that forbids a model forbids sending it the tenant's query."""
        seed = self.config.seed
        permitted = set(allowed if allowed is not None else self.backends)
        side: dict[str, str] = {}
        if unit_draw(seed, request.request_id, "shadow") < self.config.shadow_rate:
            side.update({m: "shadow" for m in self.students() if m != served and m in permitted})
        if unit_draw(seed, request.request_id, "explore") < self.config.explore_rate:
            others = sorted(m for m in self.backends if m != served and m in permitted)
            if others:
                pick = others[int(unit_draw(seed, request.request_id, "pick") * len(others))]
                side.setdefault(pick, "explore")
        if self.evidence is not None and decision is not None:
            for model in self._uncertain(request, served, permitted, decision):
                side.setdefault(model, "explore")
        return list(side.items())

    def _uncertain(
        self, request: RouteRequest, served: str, permitted: set[str], decision: Decision
    ) -> list[str]:
        """Cheaper models worth a look here. Beside a teacher's answer the look is scored by
        agreement, free: every model whose posterior straddles the floor, and a
        ``rediscover_rate`` share of those known to fall short (they may have improved). Otherwise
        it costs a judge call: probability proportional to how uncertain the posterior is about the
        floor times what serving the model would save (:func:`explore_probability`)."""
        prices, teacher, evidence = self.prices, self.teacher, self.config.evidence
        served_price = prices.get(served, 0.0)
        free = evidence.agreement and served == teacher
        floor = self.config.quality_floor
        picked = []
        for model, est in decision.estimates.items():
            if model in (served, teacher) or model not in permitted or est.lower is None:
                continue
            saving = (served_price - prices[model]) / (prices[teacher] or 1.0)
            post = _posterior_of(est)
            if free and saving > 0:
                chance = (
                    0.0
                    if post.lower >= floor
                    else (evidence.rediscover_rate if known_short(post, floor) else 1.0)
                )
            else:
                chance = explore_probability(post, floor, saving, evidence)
            if unit_draw(self.config.seed, request.request_id, f"uncertain:{model}") < chance:
                picked.append(model)
        return picked

    async def _shadow_and_log(self, request, embedding, result, attempts, side_models, judge_served) -> None:
        """Side answers (shadow/explore) and the judge, off the request path, then the final record.
        ``judge_served``: the served answer is judged (always with side answers; else at
        ``judge_rate``: online monitoring that reveals the served model's quality here). If this
        work fails, the served answer is still logged as final: it was paid for and delivered."""
        answers, served = list(attempts), attempts[-1]
        try:
            for purpose in sorted({p for _, p in side_models}):
                names = [m for m, p in side_models if p == purpose]
                answers += await self._ask_all(request, names, purpose)
            self._score_by_agreement(request, answers, embedding)
            targets = [a for a in answers if a is not served or judge_served]
            if judge_served or len(answers) > len(attempts):
                await self._judge(request, answers, embedding, targets)
            if served.score is not None:
                result.score, result.score_source = served.score, "judge"
        except Exception:
            log.exception("shadow work for %s failed; logging the served answer", request.request_id)
        await self._record(request, embedding, result, answers, final=True)

    # -- fallback ------------------------------------------------------------------------------

    def _fallbacks(self, model: str, decision: Decision, tried: list[str]) -> list[str]:
        """Who answers when ``model`` fails: ``router.fallbacks[model]`` in order, else the default
        model (the teacher); only allowed, active models not tried yet."""
        if model in self.config.fallbacks:
            chain = self.config.fallbacks[model]
        else:
            default = self._default(decision)
            chain = [default] if default != model else []
        permitted = set(decision.allowed or self.backends)
        return [m for m in dict.fromkeys(chain) if m in self.backends and m in permitted and m not in tried]

    async def _serve_chain(
        self, request: RouteRequest, chain: list[str]
    ) -> tuple[ModelAnswer | None, list[ModelAnswer]]:
        """Ask each model in turn until one answers; a failed attempt stays, as purpose ``failed``
        (logged, so failures show up in the traffic store)."""
        attempts: list[ModelAnswer] = []
        for model in chain:
            [answer] = await self._ask_all(request, [model], "serve")
            attempts.append(answer)
            if not answer.completion.error:
                return answer, attempts
            answer.purpose = "failed"
        return None, attempts

    @staticmethod
    def _fallback_reason(attempts: list[ModelAnswer]) -> str:
        """Which models failed, why, and who answered in the end."""
        steps = [
            f"{a.model} {'was overloaded' if overload_of(a) is not None else 'failed'} ({a.completion.error})"
            for a in attempts
            if a.completion.error
        ]
        served = next((a.model for a in attempts if not a.completion.error), None)
        return "; ".join(steps) + (f"; fell back to {served}, which answered" if served else "")

    @staticmethod
    def _failure(answers: list[ModelAnswer], what: str) -> Exception:
        """OverloadedError when every failure was an overload (the client should retry later),
        else NoAnswerError (nothing could answer: a 502)."""
        failed = [a for a in answers if a.completion.error]
        waits = [overload_of(a) for a in failed]
        detail = "; ".join(f"{a.model}: {a.completion.error}" for a in failed)
        if failed and all(w is not None for w in waits):
            return OverloadedError(f"{what}: every model was overloaded ({detail})", min(waits))
        return NoAnswerError(f"{what}: {detail}")

    # -- shared --------------------------------------------------------------------------------

    async def _ask_all(self, request: RouteRequest, names: list[str], purpose: str) -> list[ModelAnswer]:
        """Ask models in parallel, at most ``max_concurrency`` at once."""
        semaphore = asyncio.Semaphore(self.config.max_concurrency)

        async def ask(backend: Backend) -> ModelAnswer:
            async with semaphore:
                version = getattr(backend, "version", None)  # the version that actually answers
                completion = await self._safe_generate(backend, request.query)
            return ModelAnswer(backend.name, backend.role, purpose, completion, version=version)

        return list(await asyncio.gather(*(ask(self.backends[n]) for n in names)))

    @staticmethod
    async def _safe_generate(backend: Backend, query: str) -> Completion:
        started = time.perf_counter()
        try:
            [completion] = await backend.agenerate([query])
        except Exception as exc:  # a broken backend must not fail the request: it is logged instead
            latency_ms = (time.perf_counter() - started) * 1000
            completion = Completion("", 0, 0, latency_ms, cost=0.0, error=f"{type(exc).__name__}: {exc}")
            if isinstance(exc, BackendOverloaded):
                completion.extra[RETRY_AFTER] = exc.retry_after
        return completion

    async def _judge(
        self,
        request: RouteRequest,
        answers: list[ModelAnswer],
        embedding: np.ndarray,
        targets: list[ModelAnswer] | None = None,
    ) -> None:
        """Judge the unjudged answers (of ``targets``, default all): the supervisor, or where it
        delegated, the panel's candidate (each answer sees the query's other answers: the
        ensemble's and verifier's evidence). Every score becomes routing evidence at once."""
        pool = answers if targets is None else targets
        to_judge = [a for a in pool if not a.completion.error and a.judgement is None]
        ok = [a for a in answers if not a.completion.error]
        requests = [
            JudgeRequest(
                request.query,
                a.completion.text,
                a.model,
                request.reference,
                peers={b.model: b.completion.text for b in ok if b is not a and b.model != a.model},
            )
            for a in to_judge
        ]
        if self.panel is not None:
            judgements = await self.panel.ajudge(requests, embedding, request.request_id)
        else:
            judgements = await self.judge.ajudge(requests)
        for answer, judgement in zip(to_judge, judgements):
            answer.judgement = judgement
        if self.evidence is not None:
            self.evidence.add_many(
                Judged(request.tenant, a.model, a.version, embedding, a.score)
                for a in to_judge
                if a.score is not None
            )

    @staticmethod
    def _result(request, decision: Decision, served, answers, started: float, reason: str) -> RouteResult:
        estimate = decision.estimates.get(served.model)
        score, source = (
            (served.score, "judge")
            if served.score is not None
            else ((estimate.quality, "estimate") if estimate and estimate.evidence > 0 else (None, "none"))
        )
        return RouteResult(
            request_id=request.request_id,
            route=decision.route,
            model=served.model,
            answer=served.completion.text,
            score=score,
            score_source=source,
            cost=sum(a.cost for a in answers),
            latency_ms=(time.perf_counter() - started) * 1000,
            decision_ms=decision.decision_ms,
            max_similarity=decision.max_similarity,
            estimates={m: round(e.quality, 4) for m, e in decision.estimates.items()},
            answers=answers,
            reason=reason,
            embedding=decision.embedding,
        )

    async def _record(
        self, request, embedding, result: RouteResult, answers: list[ModelAnswer], *, final: bool
    ) -> None:
        """Log a request. With a traffic log, the record is in its file when this returns (so an
        acknowledged request survives a crash or a store outage) and the store write happens in
        its writer; without one, a final record is stored by a background task after the response."""
        query, rows = self._records(request, embedding, result, answers)
        if self.traffic_log is not None:
            await self.traffic_log.append(query, rows, final=final)
        elif final:
            self.spawn(self._store_now(query, rows))

    async def _store_now(self, query: QueryRecord, rows: list[AnswerRecord]) -> None:
        await asyncio.to_thread(self.store.log, query, rows)
        self.maintain_when_due()

    def _records(
        self, request, embedding, result: RouteResult, answers: list[ModelAnswer]
    ) -> tuple[QueryRecord, list[AnswerRecord]]:
        """One query row and its answer rows; the store derives answer ids and the judged scores."""
        query = QueryRecord(
            id=request.request_id,
            tenant=request.tenant,
            text=request.query,
            embedding=np.asarray(embedding, dtype=np.float32),
            route=result.route,
            final_model=result.model,
            final_answer=result.answer,
            final_score=next((a.score for a in answers if a.purpose == "serve"), None),
            total_cost=sum(a.cost for a in answers),
            latency_ms=result.latency_ms,
            domain=request.domain,
        )
        return query, [self._answer_record(a) for a in answers]

    @staticmethod
    def _answer_record(answer: ModelAnswer) -> AnswerRecord:
        completion, judgement = answer.completion, answer.judgement
        return AnswerRecord(
            model=answer.model,
            role=answer.role,
            purpose=answer.purpose,
            text=completion.text,
            reasoning=completion.reasoning,
            tokens_in=completion.tokens_in,
            tokens_out=completion.tokens_out,
            cost=completion.cost or 0.0,
            latency_ms=completion.latency_ms,
            judge_score=answer.score,
            judge_name=judgement.judge if judgement else None,
            judge_cost=judgement.cost if judgement else 0.0,
            error=completion.error or (judgement.error if judgement else None),
            version=answer.version,
        )
