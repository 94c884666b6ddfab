"""Like training articles and the words of their abstracts (the learned summarizer's index)."""

from __future__ import annotations

import dataclasses
import math
import zlib

import pytest

from digest.errors import SummaryError
from digest.summaries.features import FEATURES, ArticleView, Candidate
from digest.summaries.learned import load_scorer
from digest.summaries.neighbours import DOCUMENT_TERMS, MIN_IDF, Document, Neighbours, document

IDF = {
    "le": 0.1,
    "de": 0.1,
    "a": 0.2,
    "tramway": 5.0,
    "lyon": 3.0,
    "ligne": 2.5,
    "vélo": 5.0,
    "piste": 4.0,
    "paris": 2.0,
    "gratuité": 6.0,
    "ouverture": 3.0,
    "cyclable": 6.0,
}


def _index() -> Neighbours:
    return Neighbours.build(
        [
            Document({"tramway": 0.8, "lyon": 0.6}, frozenset({"tramway", "ouverture", "lyon"})),
            Document({"tramway": 0.6, "ligne": 0.8}, frozenset({"tramway", "ligne"})),
            Document({"vélo": 0.8, "piste": 0.6}, frozenset({"vélo", "cyclable"})),
        ]
    )


def test_the_abstract_words_of_like_articles_are_shared_by_likeness() -> None:
    shares = _index().abstract_words({"tramway": 2, "lyon": 1, "le": 9}, IDF)
    # Article 0 shares tramway and lyon, article 1 only tramway, article 2 nothing.
    like_first = (1 + math.log(2)) * 5.0 * 0.8 + 3.0 * 0.6
    like_second = (1 + math.log(2)) * 5.0 * 0.6
    total = like_first + like_second
    assert shares["tramway"] == pytest.approx(1.0, abs=0.01)
    assert shares["ouverture"] == pytest.approx(like_first / total, abs=0.01)
    assert shares["ligne"] == pytest.approx(like_second / total, abs=0.01)
    assert "vélo" not in shares and "cyclable" not in shares


def test_an_article_is_never_its_own_neighbour_in_training() -> None:
    shares = _index().abstract_words({"tramway": 2, "lyon": 1}, IDF, exclude=0)
    assert "ouverture" not in shares
    assert shares["ligne"] == pytest.approx(1.0)


def test_common_words_find_no_neighbours() -> None:
    assert _index().abstract_words({"le": 5, "de": 3, "inconnu": 2}, IDF) == {}


def test_the_index_is_read_back_as_it_was_written() -> None:
    index = _index()
    again = Neighbours.from_bytes(index.to_bytes())
    query = {"tramway": 1, "vélo": 3, "piste": 1}
    assert again.size == 3
    assert again.abstract_words(query, IDF) == index.abstract_words(query, IDF)


@pytest.mark.parametrize(
    "data",
    [
        b"not compressed",
        zlib.compress(b"XXXX" + bytes(8)),
        _index().to_bytes()[:-5],
        zlib.compress(zlib.decompress(_index().to_bytes()) + b"\0"),
    ],
)
def test_a_damaged_index_is_one_clear_error(data: bytes) -> None:
    with pytest.raises(SummaryError, match=r"neighbours.bin is damaged .*retrain") as error:
        Neighbours.from_bytes(data)
    assert "\n" not in str(error.value)


def test_a_training_article_keeps_its_most_distinctive_words_at_unit_length() -> None:
    words = ["le", "tramway", "de", "lyon", "a", "le", "tramway", "paris", "ligne", "le"]
    kept = document(words, ["le", "tramway", "mot-inconnu", "ouverture"], IDF)
    assert set(kept.terms) == {"tramway", "lyon", "paris", "ligne"}  # IDF >= MIN_IDF only
    assert all(IDF[word] >= MIN_IDF for word in kept.terms)
    assert max(kept.terms, key=kept.terms.__getitem__) == "tramway"
    assert math.fsum(weight**2 for weight in kept.terms.values()) == pytest.approx(1.0)
    assert kept.abstract == {"le", "tramway", "ouverture"}  # words the model knows
    many = [f"mot{number}" for number in range(40)]
    assert len(document(many, [], dict.fromkeys(many, 3.0)).terms) == DOCUMENT_TERMS


def test_a_candidate_in_the_words_of_like_abstracts_scores_higher_on_them() -> None:
    lexicon = dataclasses.replace(load_scorer().lexicon, neighbours=_index())
    sentences = [
        "La ligne de tramway de Lyon ouvrira en septembre.",
        "Le conseil municipal a voté le budget lundi soir.",
    ]
    view = ArticleView(sentences, "Lyon : le tramway arrive", lexicon)
    tram, budget = (Candidate(text, index, 1, cut=False) for index, text in enumerate(sentences))
    for name in ("nearby_mean", "nearby_sum", "nearby_f1"):
        column = FEATURES.index(name)
        assert view.features(tram, 30)[column] > view.features(budget, 30)[column] >= 0.0


def test_the_shipped_index_holds_the_training_articles() -> None:
    neighbours = load_scorer().lexicon.neighbours
    assert neighbours is not None
    assert neighbours.size > 15_000
