"""``hf``: a local Hugging Face causal LM (a student) served in-process on CPU.

Options (``models[].options``):

- ``path`` (required): a student directory (relative paths resolve against ``paths.home``), a local
  MLflow transformers-flavor directory (one with an ``MLmodel`` file, e.g. a registry download), or an
  MLflow model URI (``models:/name/3``, ``models:/name@champion``, ``runs:/...``). URIs are loaded
  with ``mlflow.transformers.load_model(uri, return_type="components")``, which knows the flavor's
  layout (weights under ``model/``, tokenizer under ``components/tokenizer/``); the tracking server
  comes from MLflow's own settings (``MLFLOW_TRACKING_URI`` / ``mlflow.set_tracking_uri``).
- ``max_new_tokens`` (24): generation budget per answer.
- ``batch_size`` (64): most prompts in one ``generate`` call (a day's 250 answers of the 153k student: 1.9 s at 64, 4.3 s at 16).
- ``max_wait_ms`` (2.0): how long the micro-batcher lingers for company when requests queue up.

Weights load lazily on first use, so building the router never pays for a student nobody calls.
Generation is greedy, left-padded and batched, and each answer carries the student's confidence
(:func:`answer_confidence`), which the router uses to defer an unsure answer to the teacher; concurrent requests are merged into one batch by
``academy.batching.MicroBatcher``, whose worker thread runs ``generate`` so the event loop is never
blocked. ``reload(path, version)`` swaps in new weights (a new registry version) without dropping
requests; ``version`` is the registry version now serving (None for a plain directory), swapped
together with the weights so the router never attributes an answer to the wrong version.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from academy.backends.base import BACKEND_CLS, Backend, Completion
from academy.batching import MicroBatcher
from academy.config import ModelConfig
from models.student import format_prompt, load_student, split_generation

MLFLOW_SCHEMES = ("models:/", "runs:/")
OPTIONS = {"path", "max_new_tokens", "batch_size", "max_wait_ms"}


class BackendError(RuntimeError):
    """A backend cannot serve at all (missing or broken model); the message names the path."""


@dataclass(frozen=True)
class _Loaded:
    """Everything one generation needs, swapped as a unit so a reload never mixes versions."""

    source: str
    version: str | None
    model: Any
    tokenizer: Any
    stop_ids: list[int]
    pad_id: int
    max_input: int


@BACKEND_CLS.register("hf")
class HFBackend(Backend):
    """A student model answering with greedy decoding; see the module docstring for options."""

    def __init__(self, config: ModelConfig, home: Path | None = None) -> None:
        super().__init__(config, home)
        opts = dict(config.options)
        unknown = sorted(set(opts) - OPTIONS)
        if unknown:
            raise BackendError(f"model {self.name!r}: unknown hf options {unknown}; known: {sorted(OPTIONS)}")
        if not opts.get("path"):
            raise BackendError(
                f"model {self.name!r}: backend hf needs options.path (a directory or models:/ URI)"
            )
        self.source = self._resolve(str(opts["path"]))
        self.max_new_tokens = int(opts.get("max_new_tokens", 24))
        self.batch_size = int(opts.get("batch_size", 64))
        self.max_wait_ms = float(opts.get("max_wait_ms", 2.0))
        self._load_lock = threading.Lock()  # held for seconds while weights load: never on the event loop
        self._batcher_lock = threading.Lock()  # held for microseconds: safe to take on the event loop
        self._version: str | None = None  # the registry version of ``source``; None: a plain directory
        self._loaded: _Loaded | None = None
        self._batcher: MicroBatcher[str, Completion] | None = None

    def _resolve(self, path: str) -> str:
        if path.startswith(MLFLOW_SCHEMES):
            return path
        p = Path(path).expanduser()
        return str(p if p.is_absolute() else self.home / p)

    # ---- loading ------------------------------------------------------------------------------

    def load(self) -> None:
        """Load the weights now (normally lazy); raises ``BackendError`` naming the path on failure."""
        self._components()

    @property
    def version(self) -> str | None:
        """The registry version serving now (set by ``reload``); None for a plain directory."""
        return self._version

    def reload(self, path: str | None = None, version: str | None = None) -> None:
        """Load ``path`` (default: the configured source again, e.g. a moved ``@champion`` alias)
        and swap it in atomically together with its registry ``version``. In-flight batches finish
        on the old weights; if loading fails the old weights (and version) keep serving and
        ``BackendError`` is raised.
        """
        source = self._resolve(path) if path is not None else self.source
        loaded = _load(source, self.max_new_tokens, version)
        with self._load_lock:
            self._loaded = loaded
            self.source, self._version = source, version

    async def areload(self, path: str | None = None, version: str | None = None) -> None:
        """``reload`` on a worker thread, for callers on the event loop (loading takes seconds)."""
        await asyncio.to_thread(self.reload, path, version)

    def _components(self) -> _Loaded:
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._load_lock:  # double-checked: concurrent first calls load once
            if self._loaded is None:
                self._loaded = _load(self.source, self.max_new_tokens, self._version)
            return self._loaded

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    # ---- generation ---------------------------------------------------------------------------

    def generate(self, prompts: list[str]) -> list[Completion]:
        """Blocking, billed generation in chunks of ``batch_size`` (scripts and evaluation)."""
        out: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            out.extend(self._generate_batch(prompts[start : start + self.batch_size]))
        return [self._billed(c) for c in out]

    async def _agenerate(self, prompts: list[str]) -> list[Completion]:
        started = time.perf_counter()
        batcher = self._get_batcher()
        results = await asyncio.gather(*(batcher.acall(p) for p in prompts), return_exceptions=True)
        elapsed = (time.perf_counter() - started) * 1000
        return [self._finish(r, elapsed) for r in results]

    def _finish(self, result: Completion | BaseException, elapsed_ms: float) -> Completion:
        """Report the latency the caller saw (queue + batch); turn failures into error completions."""
        if isinstance(result, BaseException):
            return Completion("", 0, 0, elapsed_ms, error=f"{type(result).__name__}: {result}")
        result.latency_ms = elapsed_ms
        return result

    def _get_batcher(self) -> MicroBatcher[str, Completion]:
        with self._batcher_lock:
            if self._batcher is None or self._batcher.closed:
                self._batcher = MicroBatcher(
                    self._generate_batch,
                    max_batch=self.batch_size,
                    max_wait_ms=self.max_wait_ms,
                    name=f"hf-{self.name}",
                )
            return self._batcher

    def _generate_batch(self, prompts: list[str]) -> list[Completion]:
        """One greedy ``generate`` call for ``prompts`` (unbilled; runs on a worker thread)."""
        import torch  # lazy: the registry imports every backend module, most never need torch

        loaded = self._components()
        started = time.perf_counter()
        tok = loaded.tokenizer
        enc = tok(
            [format_prompt(p) for p in prompts],
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=loaded.max_input,
        )
        with torch.inference_mode():
            output = loaded.model.generate(
                **enc,
                max_new_tokens=self.max_new_tokens,
                do_sample=False,
                eos_token_id=loaded.stop_ids,
                pad_token_id=loaded.pad_id,
                output_scores=True,
                return_dict_in_generate=True,
            )
            generated = output.sequences[:, enc["input_ids"].shape[1] :]
            probabilities = token_probabilities(output.scores, generated).tolist()
        new_tokens = generated.tolist()
        tokens_in = enc["attention_mask"].sum(dim=1).tolist()
        elapsed = (time.perf_counter() - started) * 1000
        return [
            _completion(tok, ids, n_in, loaded, elapsed, probs)
            for ids, n_in, probs in zip(new_tokens, tokens_in, probabilities)
        ]

    async def aclose(self) -> None:
        """Stop the batcher thread (after queued prompts) and drop the weights."""
        with self._batcher_lock:
            batcher, self._batcher = self._batcher, None
        self._loaded = None  # a plain reference swap; taking the load lock could block the loop
        if batcher is not None:
            await asyncio.to_thread(batcher.close)


def token_probabilities(scores: Any, generated: Any) -> Any:
    """(batch, steps) probability of each token greedy decoding chose, from ``generate``'s
    per-step logits (``output_scores=True``)."""
    import torch

    logits = torch.stack(list(scores), dim=1)  # batch, steps, vocab
    return torch.softmax(logits.float(), dim=-1).gather(2, generated.unsqueeze(-1)).squeeze(-1)


def answer_confidence(probabilities: list[float]) -> float | None:
    """The lowest probability among the tokens generated (reasoning, answer and the stop token).

    Why the minimum: one unsure token is where a tiny student's answer goes wrong. Measured on the
    day-0 demo student (600 new school queries), it separates right from wrong answers with AUC 0.93
    over five domains (0.99 on units, 0.98 on reversal) where the mean log-probability gets 0.90
    (docs/design-notes.md "A student's own confidence")."""
    return float(min(probabilities)) if probabilities else None


def _completion(
    tok: Any,
    ids: list[int],
    tokens_in: int,
    loaded: _Loaded,
    latency_ms: float,
    probabilities: list[float] | None = None,
) -> Completion:
    """Cut the generated ids at the first stop token, split answer from reasoning, and score the
    student's confidence over the tokens kept."""
    stops = set(loaded.stop_ids)
    stopped = False
    for i, token in enumerate(ids):
        if token in stops:
            ids, stopped = ids[: i + 1], True
            break
    else:
        while ids and ids[-1] == loaded.pad_id:
            ids = ids[:-1]
    answer, reasoning = split_generation(tok.decode(ids, skip_special_tokens=True))
    return Completion(
        text=answer,
        tokens_in=int(tokens_in),
        tokens_out=len(ids),
        latency_ms=latency_ms,
        reasoning=reasoning,
        extra={"stopped": stopped, "source": loaded.source, "version": loaded.version},
        confidence=answer_confidence((probabilities or [])[: len(ids)]),
    )


def _load(source: str, max_new_tokens: int, version: str | None = None) -> _Loaded:
    model, tokenizer = _load_components(source)
    model.eval()
    tokenizer.padding_side = "left"  # batched generation appends after the last real token
    tokenizer.truncation_side = "left"  # an over-long prompt keeps its end ("...\nA:")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    max_positions = getattr(model.config, "max_position_embeddings", None) or 2048
    return _Loaded(
        source=source,
        version=version,
        model=model,
        tokenizer=tokenizer,
        stop_ids=_stop_ids(tokenizer),
        pad_id=int(tokenizer.pad_token_id),
        max_input=max(8, max_positions - max_new_tokens),
    )


def _load_components(source: str) -> tuple[Any, Any]:
    if source.startswith(MLFLOW_SCHEMES):
        return _load_mlflow(source)
    path = Path(source)
    if not path.is_dir():
        raise BackendError(f"student model directory {path} does not exist")
    try:  # a student directory or a downloaded MLflow transformers-flavor model
        return load_student(path)
    except Exception as exc:
        raise BackendError(f"cannot load student model from {path}: {exc}") from exc


def _load_mlflow(uri: str) -> tuple[Any, Any]:
    try:
        import mlflow.transformers

        components = mlflow.transformers.load_model(uri, return_type="components")
        return components["model"], components["tokenizer"]
    except Exception as exc:
        raise BackendError(f"cannot load student model from MLflow model {uri}: {exc}") from exc


def _stop_ids(tokenizer: Any) -> list[int]:
    """eos plus every token containing a newline: an answer is one line, the next line is rambling."""
    newline_ids = [i for i in range(len(tokenizer)) if "\n" in tokenizer.decode([i])]
    return [int(tokenizer.eos_token_id), *newline_ids]
