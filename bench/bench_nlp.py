"""Ticket-text figures of issue 15, each printed with the machine's load (the machine is shared).

Usage: ``.venv/bin/python bench/bench_nlp.py [--part real|defaults|demo|speed|memory|language]``
(default: every part). Parts:

- ``real``: real labelled reviews from ``../shared/data`` (never copied into the repo):
  ChnSentiCorp hotel reviews (``label``) and the English clothing reviews (``Recommended IND``;
  text = title + review). Seeded 70/30 split; trained pipelines (own language and the
  language-agnostic ``xx``) vs the TF-IDF character n-gram logistic regression reference fitted
  on the same 70%; held-out sentiment AUC and the rank correlation of scores with text length.
- ``defaults``: the untrained lexicon-and-rules sentiment on every review (no labels seen).
- ``demo``: the demo world's tickets (``settings.simulation``), trained as the daily flow trains
  them; held-out macro-F1 per language (whole paraphrase templates held out) and training time.
- ``speed``: ``nlp score`` texts/s on one core (synthetic tickets, the real reviews together and
  per language; trained pipelines and untrained defaults).
- ``memory``: resident memory while scoring ``--memory-texts`` distinct texts (each with a new
  order reference and a new word), every 100k texts.
- ``language``: language detection on the reviews (their language is known).
"""

from __future__ import annotations

import os

# One core: pin the numeric libraries' thread pools before numpy/thinc are imported.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("ANSI_COLORS_DISABLED", "1")

import argparse  # noqa: E402
import io  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.is_dir():  # a worktree under /work/wt/<name>: shared/ is two levels further up
    DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
SPLIT_SEED = 0
TEST_SHARE = 0.3


def load() -> str:
    """The 1-minute load average, to print beside every figure."""
    return f"load {os.getloadavg()[0]:.1f}"


def real_reviews() -> dict[str, tuple[pd.Series, pd.Series]]:
    """``{language: (texts, negative 0/1)}`` of the two real review sets."""
    zh = pd.read_csv(DATA / "ChnSentiCorp_htl_all.csv").dropna(subset=["review"])
    en = pd.read_csv(DATA / "womens_ecommerce_clothing_reviews_first5000.csv")
    en = en.dropna(subset=["Review Text"])
    en_text = (en["Title"].fillna("") + ". " + en["Review Text"]).str.strip(". ")
    return {
        "zh": (zh["review"].reset_index(drop=True), (zh["label"] == 0).astype(int).reset_index(drop=True)),
        "en": (en_text.reset_index(drop=True),
               (en["Recommended IND"] == 0).astype(int).reset_index(drop=True)),
    }  # fmt: skip


def split(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The seeded 70/30 split: (train positions, held-out positions)."""
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    cut = int(round(n * (1 - TEST_SHARE)))
    return np.sort(order[:cut]), np.sort(order[cut:])


def reference_auc(
    texts: pd.Series, negative: pd.Series, train: np.ndarray, test: np.ndarray
) -> float:
    """TF-IDF character 1-3-gram logistic regression, fitted on ``train``, AUC on ``test``."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 3))
    model = LogisticRegression(max_iter=1000)
    model.fit(vectorizer.fit_transform(texts.iloc[train]), negative.iloc[train])
    scores = model.predict_proba(vectorizer.transform(texts.iloc[test]))[:, 1]
    return float(roc_auc_score(negative.iloc[test], scores))


def length_drift(scores: np.ndarray, texts: pd.Series, negative: pd.Series) -> str:
    """Spearman correlation of score and length within each class (0: no drift)."""
    from scipy.stats import spearmanr

    lengths = texts.str.len().to_numpy()
    parts = []
    for value, name in ((0, "pos"), (1, "neg")):
        mask = negative.to_numpy() == value
        parts.append(f"{name} {spearmanr(scores[mask], lengths[mask])[0]:+.2f}")
    return "rho(score, length) " + " / ".join(parts)


def part_real() -> None:
    from sklearn.metrics import roc_auc_score

    from nlp.scoring import TicketModels, score_texts
    from nlp.training import TrainingData, train_pipelines
    from orderlens.settings import load_settings

    for lang, (texts, negative) in real_reviews().items():
        train, test = split(len(texts))
        began = time.perf_counter()
        reference = reference_auc(texts, negative, train, test)
        print(f"[real {lang}] reference TF-IDF char 1-3 LR: held-out AUC {reference:.4f} "
              f"({len(train):,} train / {len(test):,} held out, {time.perf_counter() - began:.0f} s, "
              f"{load()})", flush=True)  # fmt: skip
        frame = pd.DataFrame({"text": texts, "language": lang, "labels": None,
                              "negative": negative.astype(float)})  # fmt: skip
        sentiment = {"column": "negative", "kind": "binary", "reading": "1 = negative"}
        columns = {"text": "text", "labels": None, "sentiment": "negative"}
        data = TrainingData(frame.iloc[train].reset_index(drop=True), (), sentiment, columns)
        heldout = TrainingData(frame.iloc[test].reset_index(drop=True), (), sentiment, columns)
        settings = load_settings(home=tempfile.mkdtemp(prefix="bench_nlp_real_"))
        began, began_cpu = time.perf_counter(), time.process_time()
        result = train_pipelines(data, settings, heldout=heldout, stdout=io.StringIO(),
                                 data_source=f"real {lang}")  # fmt: skip
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        models = TicketModels.load(settings)
        held_texts = texts.iloc[test].reset_index(drop=True)
        held_negative = negative.iloc[test].reset_index(drop=True)
        for name in (lang, "xx"):
            alone = TicketModels(models.version, {"xx": models.pipelines[name]}, ())
            scored = score_texts(
                held_texts, alone, languages=pd.Series(lang, index=held_texts.index)
            )
            auc = roc_auc_score(held_negative, scored["p_negative"])
            verdict = "matches or beats" if auc >= reference - 5e-4 else "BELOW"
            print(f"[real {lang}] trained pipeline '{name}': held-out sentiment AUC {auc:.4f} "
                  f"({verdict} the reference {reference:.4f}); "
                  f"{length_drift(scored['p_negative'].to_numpy(), held_texts, held_negative)}; "
                  f"training {wall:.0f} s wall / {cpu:.0f} s CPU for both pipelines ({load()})",
                  flush=True)  # fmt: skip
        lexicon = score_texts(
            held_texts, TicketModels(), languages=pd.Series(lang, index=held_texts.index)
        )
        print(f"[real {lang}] untrained defaults on the same held-out 30%: AUC "
              f"{roc_auc_score(held_negative, lexicon['p_negative']):.4f} ({load()})", flush=True)  # fmt: skip
        del result


def part_defaults() -> None:
    from sklearn.metrics import roc_auc_score

    from nlp.scoring import TicketModels, score_texts

    bars = {"zh": 0.85, "en": 0.80}
    for lang, (texts, negative) in real_reviews().items():
        began = time.process_time()
        scored = score_texts(texts, TicketModels(), languages=pd.Series(lang, index=texts.index))
        cpu = time.process_time() - began
        p_negative = scored["p_negative"].fillna(0.5)
        auc = roc_auc_score(negative, p_negative)
        print(f"[defaults {lang}] lexicon + rules, no labels seen: sentiment AUC {auc:.4f} on "
              f"all {len(texts):,} reviews (bar {bars[lang]:.2f}: "
              f"{'met' if auc >= bars[lang] else 'NOT met'}); no sentiment word in "
              f"{(scored['sentiment'] == 0).mean():.1%}; "
              f"{length_drift(p_negative.to_numpy(), texts, negative)}; "
              f"{len(texts) / cpu:,.0f} texts/s CPU ({load()})", flush=True)  # fmt: skip


def demo_tickets() -> tuple[pd.DataFrame, str]:
    from orderlens.settings import load_settings
    from simulator.world import WorldConfig, simulate_world

    sim = load_settings(home=tempfile.mkdtemp(prefix="bench_nlp_sim_")).simulation
    world = simulate_world(WorldConfig(n_orders=sim.orders, seed=sim.seed, start=sim.start,
                                       days=sim.days))  # fmt: skip
    return world["tickets"], f"{sim.orders:,} orders, seed {sim.seed}"


def part_demo(seeds: list[int]) -> None:
    from nlp.training import train_pipelines
    from orderlens.settings import load_settings

    tickets, world = demo_tickets()
    counts = tickets["language"].value_counts().to_dict()
    for seed in seeds:
        settings = load_settings(home=tempfile.mkdtemp(prefix="bench_nlp_demo_"))
        began, began_cpu = time.perf_counter(), time.process_time()
        result = train_pipelines(tickets, settings, seed=seed, stdout=io.StringIO())
        wall, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        figures = ", ".join(
            f"{lang} {m['macro_f1']:.3f} (n={m['n']})" for lang, m in result.metrics.items()
        )
        bar = all(result.metrics[lang]["macro_f1"] >= 0.85 for lang in ("en", "zh"))
        print(f"[demo] world of {world} ({len(tickets):,} tickets {counts}), split seed {seed}: "
              f"held-out macro-F1 {figures}; bar 0.85 per language "
              f"{'met' if bar else 'NOT met'}; training {wall:.1f} s wall / {cpu:.1f} s CPU "
              f"({load()})", flush=True)  # fmt: skip


def _one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _rate(
    texts: pd.Series, models, languages: pd.Series | None, repeat: int = 3
) -> tuple[float, float]:
    from nlp.scoring import score_texts

    score_texts(
        texts.head(500), models, languages=None if languages is None else languages.head(500)
    )
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        score_texts(texts, models, languages=languages)
        best = min(best, time.perf_counter() - began)
        best_cpu = min(best_cpu, time.process_time() - began_cpu)
    return len(texts) / best, len(texts) / best_cpu


def part_speed(n_tickets: int) -> None:
    from nlp.scoring import TicketModels
    from nlp.training import train_pipelines
    from orderlens.settings import load_settings
    from simulator.ticket_text import synthetic_tickets

    _one_core()
    settings = load_settings(home=tempfile.mkdtemp(prefix="bench_nlp_speed_"))
    train_pipelines(synthetic_tickets(2_000, seed=1), settings, stdout=io.StringIO())
    trained = TicketModels.load(settings)
    tickets = synthetic_tickets(n_tickets, seed=11)
    by_language = {
        lang: texts.reset_index(drop=True) for lang, (texts, _) in real_reviews().items()
    }
    reviews = pd.concat(list(by_language.values()), ignore_index=True)
    cases = [
        ("synthetic tickets", tickets["text"], tickets["language"]),
        ("synthetic tickets, language detected", tickets["text"], None),
        ("real reviews", reviews, None),
        *((f"real {lang} reviews", texts, None) for lang, texts in by_language.items()),
    ]
    for name, texts, languages in cases:
        for label, models in (("trained", trained), ("untrained defaults", TicketModels())):
            wall, cpu = _rate(texts, models, languages)
            print(f"[speed] nlp score, {label}, {name} ({len(texts):,} texts, mean "
                  f"{texts.str.len().mean():.0f} chars) on 1 core: {wall:,.0f} texts/s wall, "
                  f"{cpu:,.0f} texts/s CPU (target 5,000) ({load()})", flush=True)  # fmt: skip


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def part_memory(n_texts: int) -> None:
    from nlp.scoring import TicketModels, score_texts
    from nlp.training import train_pipelines
    from orderlens.settings import load_settings
    from simulator.ticket_text import synthetic_tickets

    settings = load_settings(home=tempfile.mkdtemp(prefix="bench_nlp_memory_"))
    train_pipelines(synthetic_tickets(1_000, seed=1), settings, smoke=True, stdout=io.StringIO())
    models = TicketModels.load(settings)
    base = synthetic_tickets(2_000, seed=5)
    rng = np.random.default_rng(0)
    chunk = 20_000
    marks = []
    began = time.perf_counter()
    for start in range(0, n_texts, chunk):
        rows = base.sample(chunk, replace=True, random_state=int(rng.integers(1 << 31)))
        ids = np.arange(start, start + chunk)
        # Every text new: an order reference and a made-up word never seen before.
        texts = (
            rows["text"].to_numpy() + pd.Series(ids).map(lambda i: f" OL{i:09d} zq{i:x}").to_numpy()
        )
        score_texts(pd.Series(texts), models, languages=pd.Series(rows["language"].to_numpy()))
        done = start + chunk
        if done % 100_000 == 0 or done >= n_texts:
            marks.append((done, _rss_mb()))
            en = models.pipelines.get("en") or models.pipelines["xx"]
            print(f"[memory] {done:>9,} distinct texts scored: RSS {marks[-1][1]:,.0f} MB, "
                  f"vocabulary {len(en.vocab.strings):,} strings, "
                  f"{done / (time.perf_counter() - began):,.0f} texts/s ({load()})", flush=True)  # fmt: skip
    if len(marks) >= 2:
        first, last = marks[0], marks[-1]
        print(
            f"[memory] growth from {first[0]:,} to {last[0]:,} texts: "
            f"{last[1] - first[1]:+,.0f} MB (peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB)"
        )


def part_language() -> None:
    from nlp.language import detect_language

    samples = {
        "fr": "Le colis n'est pas arrivé et le service client ne répond pas.",
        "de": "Die Lieferung ist nicht angekommen und ich warte seit einer Woche.",
        "es": "El pedido llegó roto y quiero un reembolso por favor.",
        "pt": "O pedido não chegou e já faz uma semana que estou esperando.",
        "it": "Il pacco non è arrivato e il servizio clienti non risponde.",
        "nl": "Het pakket is niet aangekomen en ik wacht al een week.",
        "ja": "注文した商品がまだ届いていません。",
        "ko": "주문한 상품이 아직 도착하지 않았습니다.",
        "ru": "Заказ до сих пор не пришёл, верните деньги.",
    }
    for lang, (texts, _) in real_reviews().items():
        began = time.process_time()
        detected = texts.map(detect_language)
        cpu = time.process_time() - began
        print(f"[language] script + function-word detector on the {lang} reviews: "
              f"{(detected == lang).mean():.2%} right of {len(texts):,} "
              f"({len(texts) / cpu:,.0f} texts/s; wrong as {detected[detected != lang].value_counts().head(3).to_dict()}) "
              f"({load()})")  # fmt: skip
    right = sum(detect_language(text) == lang for lang, text in samples.items())
    print(f"[language] one sentence each in {', '.join(samples)}: {right}/{len(samples)} right")


def main() -> None:
    """Run the chosen parts and print their figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", action="append", choices=["real", "defaults", "demo", "speed",
                        "memory", "language"])  # fmt: skip
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="demo split seeds")
    parser.add_argument("--tickets", type=int, default=20_000, help="synthetic tickets for speed")
    parser.add_argument("--memory-texts", type=int, default=1_000_000)
    args = parser.parse_args()
    parts = args.part or ["defaults", "language", "real", "demo", "speed", "memory"]
    for part in parts:
        if part == "real":
            part_real()
        elif part == "defaults":
            part_defaults()
        elif part == "demo":
            part_demo(args.seeds)
        elif part == "speed":
            part_speed(args.tickets)
        elif part == "memory":
            part_memory(args.memory_texts)
        else:
            part_language()


if __name__ == "__main__":
    main()
