"""The offline lead summarizer on real French news articles."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from digest.config import SummarizerSettings
from digest.errors import SummaryError
from digest.french import word_count
from digest.models import Article
from digest.summaries import LeadSummarizer, Summarizer, make_summarizer

# Articles from OrangeSum, Kamal Eddine, Tixier and Vazirgiannis (2021), CC BY-SA 4.0,
# https://github.com/Tixierae/OrangeSum (validation split; ids 14658, 1629, 19344, and the
# opening sentences of 31667 and 33537). Paragraphs are glued without a space, as upstream.
ORANGESUM = {
    "14658": (
        "Venise : un paquebot incontrôlable sème la panique",
        "Sur les réseaux sociaux, les images sont impressionnantes. Dimanche matin à Venise, "
        "l'équipage du MSC Opéra a perdu le contrôle du paquebot, à son arrivée dans le port de "
        "la cité des Doges. Le navire, qui peut contenir plus de 2.600 passagers, est venu "
        "heurter le quai auquel il voulait s'arrimer. Le paquebot a raclé le quai sur plusieurs "
        "mètres, suscitant la panique des personnes à terre, avant de percuter un autre bateau "
        "touristique, le Michelangelo, stoppant ainsi sa course. Des témoins ont filmé la scène. "
        "Les vidéos montrent des touristes courant pour tenter de fuir le paquebot, qui ne semble "
        "pas vouloir s'arrêter. Quatre personnes ont été blessées dans cet accident : deux "
        "légèrement, tandis que les deux autres ont été transportées à l'hôpital pour des "
        "examens. L'incident s'est produit à San Basilio-Zaterre, dans le canal de la Giudecca, "
        "où de nombreux navires de croisière s'arrêtent pour permettre à leurs passagers de "
        "visiter Venise.Selon le quotidien italien Corriere della Serra, cette course folle "
        "serait due aux forts courants et à la rupture de l'un des câbles qui reliait le navire "
        "au remorqueur, qui l'aidait à entrer dans le canal.",
    ),
    "1629": (
        "Boyard Land : la grosse frayeur de Danièle Evenou face aux crocodiles",
        'Danièle Evenou se souviendra longtemps de son passage dans "Boyard Land" samedi 11 '
        "janvier. Lors de sa participation à l'émission de France 2, elle a fait face à "
        "plusieurs crocodiles lors d'une épreuve. Prise de panique à la vue de ses animaux, elle "
        "a paniqué, suscitant l'hilarité chez le présentateur Olivier Minne et les autres "
        "participants.",
    ),
    "19344": (
        'Tir présumé de LBD : le parquet de Paris ouvre une enquête pour "violences volontaires"',
        "La vidéo est devenue virale. Elle montre un policier semblant tirer quasiment à bout "
        "portant sur des manifestations avec un lanceur de balles de défense (LBD) lors "
        "d'échauffourées survenues jeudi, pendant le défilé contre la réforme des retraites. "
        "L'enquête a été ouverte pour \"violences volontaires par personne dépositaire de "
        "l'autorité publique\", selon le parquet, et a été confiée à l'IGPN, la \"police des "
        "polices\". Cette vidéo de 37 secondes montre l'avancée des forces de l'ordre rue "
        "Saint-Lazare, à Paris, qui repoussent les manifestants, principalement à coups de "
        "tonfa (une matraque avec une poignée), avant qu'un policier équipé d'une arme semblant "
        "être un LBD ne tire sur la foule à environ un mètre de distance. Les images montrent "
        "ensuite un homme à terre. Dans une déclaration à l'AFP, la préfecture de police a "
        'qualifié cette vidéo de "parcellaire et sortie de son contexte", celui de "violents '
        'heurts" dans le secteur de la gare Saint-Lazare pendant la manifestation.',
    ),
    "31667": (
        "Attaque à Paris : la mairie de la capitale défend la police après des accusations "
        'jugées "inélégantes"',
        "Une attaque à l'arme blanche a fait deux blessés ce vendredi 25 septembre à Paris, dans "
        "le 11e arrondissement, tout près de l'ancien immeuble de Charlie Hebdo et au moment "
        "même où se déroule le procès des auteurs de l'attentat contre le journal satirique en "
        "2015. Les deux victimes sont des employés de Premières lignes, société de production "
        "qui travaille avec Cash investigation sur France 2. Le parquet national antiterroriste "
        "a été saisi.",
    ),
    "33537": (
        'Découverte sur Vénus : pour la Nasa, "l\'événement le plus important à ce jour" dans '
        "la recherche de vie extraterrestre",
        "La découverte dans les couches nuageuses de Vénus d'un gaz signalant peut-être la vie, "
        "la phosphine, a été célébrée lundi par le patron de l'agence spatiale américaine, qui a "
        "dit vouloir désormais donner la priorité à l'étude de cette planète, délaissée au "
        'profit de Mars. Quand Vénus se dévoilepar euronews (en français)"De la vie sur Vénus ? '
        "La découverte de phosphine, produit dérivé de la biologie anaérobie, est l'événement "
        'le plus important à ce jour dans la recherche de vie en dehors de la Terre", a tweeté '
        "Jim Bridenstine, administrateur de la Nasa, réagissant à la publication plus tôt lundi "
        "d'une étude sur la découverte par la revue Nature Astronomy.C'est la première fois que "
        "l'on découvre ce composé dans l'une des quatre planètes telluriques de notre système "
        'solaire, "la Terre mise à part", a dit Jane S. Greaves, professeure d\'astronomie à '
        "l'Université de Cardiff, qui a dirigé l'étude.",
    ),
}
VENICE_STANDFIRST = (
    "Le bateau de croisière, long de 275 m, a percuté un quai lors de son arrivée dans le port "
    "de Venise, dimanche 2 juin. Quatre personnes ont été blessées."
)
ENDS_AS_SENTENCE = re.compile(r"(?:[.!?…][\"»”)]?|…)$")


def make_article(title: str, text: str, standfirst: str = "") -> Article:
    return Article(
        url="https://actu.exemple.fr/article",
        title=title,
        text=text,
        published=dt.datetime(2025, 1, 22, 9, 30, tzinfo=dt.UTC),
        source="Exemple",
        standfirst=standfirst,
    )


def orangesum(article_id: str, standfirst: str = "") -> Article:
    title, text = ORANGESUM[article_id]
    return make_article(title, text, standfirst)


def normalized(text: str) -> str:
    return " ".join(re.sub(r"[\W_]+", " ", text.casefold()).split())


@pytest.mark.parametrize("article_id", sorted(ORANGESUM))
def test_summary_of_a_real_article_is_short_whole_and_not_the_title(article_id: str) -> None:
    article = orangesum(article_id)
    summary = LeadSummarizer(max_words=30).summarize(article)
    assert 5 <= word_count(summary.text) <= 45
    assert ENDS_AS_SENTENCE.search(summary.text), summary.text
    assert normalized(summary.text) != normalized(article.title)
    assert summary.method == "lead-v1"


@pytest.mark.parametrize("article_id", sorted(ORANGESUM))
def test_summary_never_cuts_a_word(article_id: str) -> None:
    article = orangesum(article_id)
    summary = LeadSummarizer(max_words=12).summarize(article)
    source_words = {word.rstrip(".,;:") for word in article.text.split()}
    for word in summary.text.removesuffix("…").split():
        assert word.rstrip(".,;:") in source_words, word


def test_summary_is_deterministic() -> None:
    article = orangesum("19344")
    summaries = {LeadSummarizer().summarize(article) for _ in range(3)}
    assert len(summaries) == 1


def test_summary_starts_at_the_sentence_about_the_title_rather_than_a_hook() -> None:
    summary = LeadSummarizer(max_words=30).summarize(orangesum("14658"))
    assert summary.text == (
        "Dimanche matin à Venise, l'équipage du MSC Opéra a perdu le contrôle du paquebot, à son "
        "arrivée dans le port de la cité des Doges."
    )


def test_summary_skips_a_fragment_left_by_a_glued_paragraph() -> None:
    summary = LeadSummarizer(max_words=30).summarize(orangesum("33537"))
    assert summary.text.startswith("La découverte dans les couches nuageuses de Vénus")
    assert summary.text.count('"') % 2 == 0


def test_a_much_too_long_first_sentence_is_cut_at_a_clause() -> None:
    summary = LeadSummarizer(max_words=30).summarize(orangesum("31667"))
    assert summary.text == (
        "Une attaque à l'arme blanche a fait deux blessés ce vendredi 25 septembre à Paris, dans "
        "le 11e arrondissement…"
    )


def test_a_cut_without_clause_ends_on_a_full_word_not_a_preposition() -> None:
    article = make_article(
        "Budget",
        "Le conseil municipal a voté mardi soir le budget de la ville pour l'année prochaine "
        "après un débat de plus de six heures avec les représentants des associations du "
        "quartier de la gare et des commerçants du centre.",
    )
    summary = LeadSummarizer(max_words=10).summarize(article)
    assert summary.text == "Le conseil municipal a voté mardi soir le budget…"


def test_whole_sentences_fill_up_to_max_words() -> None:
    summary = LeadSummarizer(max_words=60).summarize(orangesum("1629"))
    assert summary.text == " ".join(ORANGESUM["1629"][1].split())


def test_a_good_standfirst_is_preferred_to_the_text() -> None:
    article = orangesum("14658", VENICE_STANDFIRST)
    assert LeadSummarizer(max_words=30).summarize(article).text == VENICE_STANDFIRST
    assert LeadSummarizer(max_words=20).summarize(article).text == (
        "Le bateau de croisière, long de 275 m, a percuté un quai lors de son arrivée dans le "
        "port de Venise, dimanche 2 juin."
    )


def test_a_kicker_standfirst_is_not_a_summary() -> None:
    article = orangesum("1629", standfirst="BEST-OF TÉLÉ.")
    summary = LeadSummarizer(max_words=30).summarize(article)
    assert summary.text.startswith("Danièle Evenou se souviendra longtemps")


def test_a_standfirst_equal_to_the_title_is_skipped() -> None:
    title, text = ORANGESUM["1629"]
    summary = LeadSummarizer().summarize(make_article(title, text, standfirst=title + "."))
    assert normalized(summary.text) != normalized(title)
    assert summary.text.startswith("Danièle Evenou")


def test_a_sentence_repeating_the_title_is_skipped() -> None:
    title = "Le Louvre rouvre ses portes"
    text = "Le Louvre rouvre ses portes. Le musée accueille de nouveau ses visiteurs dès lundi."
    summary = LeadSummarizer().summarize(make_article(title, text))
    assert summary.text == "Le musée accueille de nouveau ses visiteurs dès lundi."


def test_reading_tool_labels_and_bylines_never_reach_the_summary() -> None:
    text = (
        "Lecture Zen\n\nRésumer l'article\n\nPublié le 24/01/2025 à 10h30\n\n"
        "Par Jeanne Martin, publié le 24 janvier 2025 à 10h30 La mairie a présenté jeudi son "
        "plan pour les pistes cyclables du centre-ville.\n\nLes travaux dureront deux ans."
    )
    summary = LeadSummarizer().summarize(make_article("Pistes cyclables", text))
    assert summary.text == (
        "La mairie a présenté jeudi son plan pour les pistes cyclables du centre-ville. "
        "Les travaux dureront deux ans."
    )


def test_a_very_short_article_is_kept_whole_with_a_final_stop() -> None:
    article = make_article("Fermeture", "La piscine municipale ferme pour travaux jusqu'au 3 mars")
    summary = LeadSummarizer().summarize(article)
    assert summary.text == "La piscine municipale ferme pour travaux jusqu'au 3 mars."


def test_an_empty_text_falls_back_to_a_short_standfirst() -> None:
    article = make_article("Météo", "", standfirst="Neige attendue samedi")
    assert LeadSummarizer().summarize(article).text == "Neige attendue samedi."


def test_an_article_with_only_a_title_is_a_summary_error_naming_it() -> None:
    article = make_article("Titre seul", "Lecture Zen", standfirst="Titre seul")
    with pytest.raises(SummaryError, match=r"https://actu\.exemple\.fr/article") as caught:
        LeadSummarizer().summarize(article)
    assert "\n" not in str(caught.value)


def test_max_words_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_words"):
        LeadSummarizer(max_words=0)


def test_make_summarizer_follows_the_settings() -> None:
    summarizer: Summarizer = make_summarizer(SummarizerSettings(kind="lead", max_words=60))
    assert summarizer == LeadSummarizer(max_words=60)
    longer = summarizer.summarize(orangesum("19344"))
    shorter = make_summarizer(SummarizerSettings(max_words=15)).summarize(orangesum("19344"))
    assert word_count(shorter.text) < word_count(longer.text) <= 90
