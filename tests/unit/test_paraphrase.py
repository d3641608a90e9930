"""Paraphrase practice (academy/evolution/paraphrase.py): which logged phrasings are the same
question, and the practice rows they give."""

from __future__ import annotations

from academy.evolution.paraphrase import Logged, paraphrases

CAPITALS = {"Sweden": "Stockholm", "Peru": "Lima", "Italy": "Rome", "Chad": "N'Djamena", "Fiji": "Suva"}
PHRASINGS = ("What is the capital of {}?", "Name the capital of {}.", "Which city is {}'s capital?")


def logged(pairs: dict[str, str], phrasings: tuple[str, ...], skip: set[tuple[int, str]]) -> list[Logged]:
    return [
        Logged(p.format(x), a, f"The capital of {x} is {a}")
        for i, p in enumerate(phrasings)
        for x, a in pairs.items()
        if (i, x) not in skip
    ]


def test_a_filler_is_asked_in_the_phrasings_it_was_not_logged_in_with_the_answer_it_got():
    rows = logged(CAPITALS, PHRASINGS, skip={(1, "Sweden"), (2, "Sweden"), (2, "Peru")})
    practice = {r.query: r for r in paraphrases(rows)}
    assert set(practice) == {
        "Name the capital of Sweden.",
        "Which city is Sweden's capital?",
        "Which city is Peru's capital?",
    }
    assert practice["Which city is Sweden's capital?"].answer == "Stockholm"
    assert practice["Which city is Sweden's capital?"].reasoning == "The capital of Sweden is Stockholm"
    # a held-out query is never produced: the gate still measures queries the student never saw
    assert "Name the capital of Sweden." not in {
        r.query for r in paraphrases(rows, exclude={"Name the capital of Sweden."})
    }
    assert len(paraphrases(rows, limit=2)) == 2


def test_phrasings_whose_shared_fillers_got_other_answers_are_not_paraphrases():
    larger = [Logged(f"Is {a} larger than 50?", "yes" if a > 50 else "no") for a in (10, 20, 60, 70, 80)]
    smaller = [Logged(f"Is {a} smaller than 50?", "yes" if a < 50 else "no") for a in (10, 20, 60, 90)]
    assert paraphrases(larger + smaller) == []
    # the same two frames with answers that agree on the shared fillers are paraphrases
    bigger = [Logged(f"Is {a} bigger than 50?", "yes" if a > 50 else "no") for a in (10, 20, 60, 90)]
    assert {r.query: r.answer for r in paraphrases(larger + bigger)} == {
        "Is 70 bigger than 50?": "yes",
        "Is 80 bigger than 50?": "yes",
        "Is 90 larger than 50?": "yes",
    }


def test_a_query_fills_only_its_most_specific_frame():
    words = {"apple": "elppa", "river": "revir", "stone": "enots", "cloud": "duolc"}
    rows = [Logged(f"Reverse {w}.", r) for w, r in words.items()]
    rows += [Logged(f"Reverse the word {w}.", r) for w, r in list(words.items())[:3]]
    practice = {r.query for r in paraphrases(rows)}
    assert practice == {"Reverse the word cloud."}  # never "Reverse the word the word apple."


def test_a_filler_that_got_two_answers_is_left_alone():
    rows = logged(CAPITALS, PHRASINGS, skip={(2, "Sweden")})
    wrong = [r if r.query != "Name the capital of Sweden." else Logged(r.query, "Oslo") for r in rows]
    assert "Which city is Sweden's capital?" in {r.query for r in paraphrases(rows)}
    assert "Which city is Sweden's capital?" not in {r.query for r in paraphrases(wrong)}


def test_a_candidates_training_rows_gain_their_paraphrase_practice():
    import pandas as pd

    from academy.evolution.dataset import to_dataset, with_paraphrases
    from models.formats import format_prompt

    rows = logged(CAPITALS, PHRASINGS, skip={(1, "Sweden"), (2, "Sweden"), (2, "Peru")})
    frame = pd.DataFrame(
        {
            "query_id": [f"q{i}" for i in range(len(rows))],
            "query": [r.query for r in rows],
            "answer": [r.answer for r in rows],
            "reasoning": [r.reasoning for r in rows],
            "weight": 0.9,
            "domain": "",
            "cluster": 3,
            "gap": 3,
            "order": range(len(rows)),
            "student": "student-2",
            "source_model": "teacher",
        }
    )
    train = to_dataset(frame)
    grown = with_paraphrases(train, held_out=["Name the capital of Sweden."], ratio=2.0)
    practice = grown.select(range(len(train), len(grown)))
    assert sorted(practice["query"]) == ["Which city is Peru's capital?", "Which city is Sweden's capital?"]
    row = practice[practice["query"].index("Which city is Sweden's capital?")]
    assert row["prompt"] == format_prompt("Which city is Sweden's capital?")
    assert (
        row["answer"] == "Stockholm" and "The capital of Sweden is Stockholm" in row["completion_reasoning"]
    )
    assert (
        row["query_id"].split(":p")[0] in set(train["query_id"]) and row["gap"] == 3 and row["weight"] == 0.9
    )
    assert with_paraphrases(train, [], ratio=0.0) is train
