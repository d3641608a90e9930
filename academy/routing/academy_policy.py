"""``academy``: the seed's query flow. An exact repeat with a good logged answer is recalled; novel
queries fan out and are judged; familiar ones go to the best past performer of their neighbourhood,
weighing quality against price. :class:`AcademyRouter` runs the flow of one request: embed and
search (:meth:`AcademyRouter.decide`), then serve, judge, shadow, explore and fall back. Its
decisions are pure functions in ``academy.routing.decisions``, calling models is
``academy.routing.dispatch``, logging is ``academy.routing.recording`` (re-exported here).

Guarantees: a request is logged before ``route`` returns (through the traffic log where there is
one; a familiar request first as a preliminary record, replaced by the final one once its
background shadow, exploration and judging end), background work never fails a served request,
and a request goes only to models its tenant's tier allows.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from academy.backends.reference import unit_draw
from academy.judges.base import AGREEMENT_JUDGE, Judgement, JudgeRequest
from academy.judges.reference import reference_scores
from academy.routing.base import ROUTER_CLS, ModelAnswer, Router, RouteRequest, RouteResult
from academy.routing.decisions import (
    Decision,
    Estimate,
    best_of_fanout,
    blend_learned,
    cascade_after,
    choose_from,
    choose_model,
    default_model,
    estimate_of,
    estimate_quality,
    pick_best,
    posterior_of,
    ranked_models,
    unjudged_answer,
    unsure_reason,
)
from academy.routing.dispatch import (
    RETRY_AFTER,
    NoAnswerError,
    ask_all,
    below_threshold,
    defer,
    failure,
    fallback_reason,
    overload_of,
    serve_chain,
)
from academy.routing.learned_router import LearnedRouter
from academy.routing.posteriors import agreement_chance, explore_probability
from academy.routing.recall import RECALL, Recalled
from academy.routing.recall_route import recall_result
from academy.routing.recording import judged_row, record, request_records

__all__ = [
    "RETRY_AFTER",
    "AcademyRouter",
    "Decision",
    "Estimate",
    "NoAnswerError",
    "blend_learned",
    "choose_model",
    "default_model",
    "estimate_quality",
    "overload_of",
    "pick_best",
]

log = logging.getLogger(__name__)


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
        floor = self.budget.floor()
        predicted = {}
        if learned is not None:
            predicted = {m: q for m, q in learned.predict_one(embedding).items() if m in self.backends}
        if self.evidence is not None:
            estimates = self.evidence_estimates(request.tenant, embedding, predicted, floor)
        else:
            estimates = estimate_quality(neighbours, self.versions, self.config.other_version_weight)
            if predicted:
                estimates = blend_learned(estimates, predicted, self.config.learned.prior_weight)
        cascade: tuple[str, ...] = ()
        if self._fans_out(request, max_similarity, learned is not None):
            route, model, reason = (
                "novel",
                None,
                "no close neighbour: every model answered, the judge picked the best",
            )
        else:
            route = "familiar"
            ranked = ranked_models(estimates, self.prices, self.teacher, self.config, allowed, floor)
            model, reason = choose_from(ranked, estimates, self.prices, self.teacher, allowed)
            depth = self.config.evidence.cascade_depth
            cascade = cascade_after(model, ranked, estimates, self.prices, self.teacher, depth)
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
            floor,
            cascade,
        )

    def evidence_estimates(
        self, tenant: str, embedding: np.ndarray, predicted: dict[str, float], floor: float | None = None
    ) -> dict[str, Estimate]:
        """Each model's posterior near the query from its own judged answers (academy/routing/evidence.py),
        the learned router's prediction as its prior; for a model that reports its confidence, the
        posterior of its confident answers where that is what clears ``floor`` (default the
        configured floor): a cascade."""
        floor = self.config.quality_floor if floor is None else floor
        estimates = {}
        versions = self.versions
        for model in self.backends:
            # the learned prediction counts as ``prior_weight`` judged answers (as in blend_learned)
            prior = self.config.learned.prior_weight if model in predicted else 0.0
            cascade = self.evidence.estimate_deferral(
                tenant,
                model,
                embedding,
                versions.get(model),
                floor,
                self.config.min_evidence,
                predicted.get(model),
                prior,
            )
            estimates[model] = estimate_of(cascade)
        return estimates

    def learned_model(self) -> LearnedRouter | None:
        """The registry's learned quality model, when one is loaded and enabled in config."""
        return self.learned_router if self.config.learned.enabled else None

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
        if self.recall is not None:  # an exact repeat with a good logged answer (academy/routing/recall.py)
            self.allowed_models(request)  # a request no active model may answer is refused either way
            recalled = self.recall.lookup(request.tenant, request.query, request.models)
            if recalled is not None:
                return await self._recall(request, recalled, started)
        decision = await self.decide(request)
        if decision.route == "novel":
            return await self._novel(request, decision, started)
        return await self._familiar(request, decision, started)

    # -- recall --------------------------------------------------------------------------------

    async def _recall(self, request: RouteRequest, recalled: Recalled, started: float) -> RouteResult:
        """Serve ``recalled`` at no model or judge cost, and log it like any served request."""
        embedding = request.embedding if request.embedding is not None else await self.embed(request.query)
        self._settle_budget(request, None if recalled.model == self.teacher else recalled.score)
        result = recall_result(request, recalled, np.asarray(embedding, dtype=np.float32), started)
        await self._record(request, result.embedding, result, result.answers, final=True)
        return result

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
        best = best_of_fanout(answers, decision.estimates, self.teacher) or unjudged_answer(
            answers, self._default(decision), self.prices
        )
        if best is None:  # every model failed: the default model's chain gets a second chance
            default = self._default(decision)
            best, chain_answers = await self._serve_chain(request, self._fallbacks(default, decision, []))
            answers += chain_answers
            if best is None:
                raise failure(answers, "every model failed")
            reason = f"every model failed in the fan-out; {fallback_reason(chain_answers)}"
        best.purpose = "serve"
        # a fan-out serves the teacher's answer or one judged at least as good as its expectation
        self._settle_budget(request, None if best.model == self.teacher else (best.score or 0.0))
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
        self.evidence.add_many(judged_row(request, a, embedding) for a in others)

    def _settle_budget(self, request: RouteRequest, quality: float | None) -> None:
        """Account one served query in the quality budget (academy/routing/budget.py): ``quality``,
        the served answer's expected score (None: the teacher's, no loss). The teacher's quality is
        its mean judged score for the tenant."""
        if not self.config.budget.enabled:
            return
        teacher_quality = None
        if self.evidence is not None:
            teacher_quality = self.evidence.mean_score(request.tenant, self.teacher)
        self.budget.settle(teacher_quality, quality)

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
            raise failure(attempts, f"{chosen} and its fallbacks failed")
        if len(attempts) > 1:
            reason = fallback_reason(attempts)
        estimate = decision.estimates.get(served.model)
        if estimate is not None and below_threshold(served, estimate.threshold):
            served, attempts, reason = await self._defer(request, decision, served, attempts, reason)
        estimate = decision.estimates.get(served.model)
        expected = estimate.expected if estimate is not None else 0.0  # unestimated: spend the most
        self._settle_budget(request, None if served.model == self.teacher else expected)
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

    async def _defer(
        self,
        request: RouteRequest,
        decision: Decision,
        unsure: ModelAnswer,
        attempts: list[ModelAnswer],
        reason: str,
    ) -> tuple[ModelAnswer, list[ModelAnswer], str]:
        """The cascade's next steps: ``unsure`` answered below its threshold, so the decision's
        cascade (cheaper models that clear the floor here, :func:`cascade_after`) is asked in turn,
        and the first answer that clears its own threshold serves; else the next model of the
        fallback chain (the teacher) does. Every unsure answer is kept, billed and logged (purpose
        ``deferred``); beside the teacher's it is scored by agreement, free evidence. If nothing
        else answers, the first unsure answer is served after all."""
        tried, steps = [a.model for a in attempts], [unsure]
        for model in decision.cascade:
            if model in tried:
                continue
            answer, more = await self._serve_chain(request, [model])
            attempts, tried = attempts + more, tried + [model]
            if answer is None:
                continue
            if not below_threshold(answer, decision.estimates[model].threshold):
                defer(steps)
                why = f"{unsure_reason(decision, steps)}: deferred to {model}, which was sure"
                return answer, attempts, why
            steps.append(answer)
        served, more = await self._serve_chain(request, self._fallbacks(unsure.model, decision, tried))
        # the served answer stays last: background work reads it from there
        if served is None:
            defer(steps[1:])
            others = [a for a in attempts if a is not unsure] + more
            confidence = unsure.completion.confidence or 0.0
            return (
                unsure,
                [*others, unsure],
                f"{reason}; unsure ({confidence:.2f}), but nothing else answered",
            )
        defer(steps)
        return served, attempts + more, f"{unsure_reason(decision, steps)}: deferred to {served.model}"

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
        floor = decision.floor
        picked = []
        for model, est in decision.estimates.items():
            if model in (served, teacher) or model not in permitted or est.lower is None:
                continue
            saving = (served_price - prices[model]) / (prices[teacher] or 1.0)
            post = posterior_of(est)
            if free and saving > 0:
                chance = agreement_chance(post, floor, evidence)
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
        """Ask each model of ``chain`` in turn until one answers (:func:`dispatch.serve_chain`)."""
        return await serve_chain(self.backends, request.query, chain, self.config.max_concurrency)

    # -- shared --------------------------------------------------------------------------------

    async def _ask_all(self, request: RouteRequest, names: list[str], purpose: str) -> list[ModelAnswer]:
        """Ask models in parallel, at most ``max_concurrency`` at once (:func:`dispatch.ask_all`)."""
        return await ask_all(self.backends, request.query, names, purpose, self.config.max_concurrency)

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
            self.evidence.add_many(judged_row(request, a, embedding) for a in to_judge if a.score is not None)

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
        """Log a request (:func:`recording.record`): durable in the traffic log when this returns,
        where there is one."""
        query, rows = request_records(request, embedding, result, answers)
        await record(self, query, rows, final=final)
        if final and self.recall is not None and result.route != RECALL:  # serving is not re-answering
            self.recall.add_answers(request.tenant, request.query, answers)
