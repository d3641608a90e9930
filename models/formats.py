"""The student's text formats: how a query becomes a prompt, an answer a target, a generation an answer.

Training (``models.train``), the student factory (``models.student``) and serving
(``academy.backends.hf``) must format text identically, so the prompt template, the target format,
the answer marker and the special tokens live here and nowhere else. Standard library only: the
server imports it without loading torch.

Formats (``|`` marks where prompt ends and target begins)::

    prompt  = "Q: What is 47 + 35?\\nA:"
    target  = " 82"                              # format_target("82")
    target  = " 47 + 35 = 82 => 82"             # format_target("82", reasoning="47 + 35 = 82")
    trained = prompt | target + "<eos>"

At serving time generation stops at ``<eos>`` or a newline, and ``extract_answer`` keeps only the
text after the last ``=>``.
"""

from __future__ import annotations

PROMPT_TEMPLATE = "Q: {query}\nA:"
ANSWER_MARKER = "=>"
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK]


def _one_line(text: str) -> str:
    """Collapse whitespace runs: a newline inside a target would stop generation early."""
    return " ".join(text.split())


def format_prompt(query: str) -> str:
    """The student's input for ``query``; it ends right before the target's leading space."""
    return PROMPT_TEMPLATE.format(query=query.strip())


def format_target(answer: str, reasoning: str | None = None) -> str:
    """The text the student learns to generate after the prompt (eos is added by the trainer).

    The leading space keeps prompt and target on a token boundary, so the tokenized prompt is a
    prefix of the tokenized prompt+target (TRL masks the loss at that boundary).
    """
    answer = _one_line(answer)
    if reasoning and reasoning.strip():
        return f" {_one_line(reasoning)} {ANSWER_MARKER} {answer}"
    return f" {answer}"


def split_generation(generated: str) -> tuple[str, str | None]:
    """Split a raw generation into ``(answer, reasoning)``.

    Cut at the first eos / newline first (anything after is the model rambling into a new turn),
    then take the text after the last answer marker; the text before it is the reasoning.
    """
    text = generated.split(EOS, 1)[0].split("\n", 1)[0]
    if ANSWER_MARKER in text:
        reasoning, _, answer = text.rpartition(ANSWER_MARKER)
        return answer.strip(), reasoning.strip() or None
    return text.strip(), None


def extract_answer(generated: str) -> str:
    """Only the final answer of a generation: what the router serves and the judge scores."""
    return split_generation(generated)[0]
