"""The full profile's time on a Colab T4, derived: each notebook's GPU work divided by T4 throughputs.

No T4 is available to the project, so nothing here is measured on one. The work per notebook is counted from
the notebooks' full-profile settings (examples x epochs x runs); the throughputs and their sources are below.
Run ``python benchmarks/t4_budget.py`` for the README's table.
"""

import json
from pathlib import Path

# Examples per second on a T4 with 2 vCPUs (Colab), each with where it comes from.
THROUGHPUT = {
    # NVIDIA DeepLearningExamples, PyTorch ResNet50 v1.5 README (pytorch-21.03 container), T4, mixed precision:
    # 1,128 img/s at batch 32 on the GPU alone. Our CIFAR-10 loader upscales to 224 px on the CPU: 564 img/s on
    # this project's 2-core machine (benchmarks/README.md), so the loader, not the GPU, sets the pace.
    "resnet50_inference": 560,
    # Same README: a V100 trains at 1,156 img/s and infers at 3,382 img/s (mixed precision, batch 256): training
    # runs at 0.34x inference. 0.34 x the T4's 1,198 img/s is 410 img/s; we take 250 (batch 32, a 70 W card that
    # throttles, a shared host), the low end of the 250-350 img/s that issue 14 quotes.
    "resnet50_training": 250,
    # The course's H200 measurement (1,125 seq/s, batch 32, 64 tokens) divided by 10: kept from the earlier,
    # pessimistic derivation (benchmarks/README.md), for want of a published T4 number.
    "bert_training": 110,
    "bert_inference": 1400,
    # Notebook 06's SmallCNN students at CIFAR-10's own 32 px (no upscaling): per-step overhead, not arithmetic,
    # sets the pace at batch 32; the H200 ran the same network at 224 px at 7,670 img/s. Assumed.
    "student_32px": 5000,
    # Notebook 07's DANN network on 28 px digits: the H200's 13,800 digits/s divided by 10.
    "dann_digits": 1400,
}

# Examples processed per notebook in the full profile, by kind of work (from the notebooks' settings).
WORK = {
    "00": {"resnet50_inference": 2 * 3200},
    "01": {  # 1,000 labels, 5 epochs in the sweep; validation 2,000; test 10,000. Upper bounds: each initialisation's
        # chosen epochs are at most twice the sweep's (early stopping may choose fewer)
        "resnet50_training": 6 * 5 * 1000  # learning-rate sweeps, 3 rates x 2 initialisations
        + 2 * 10 * 1000  # early stopping at the chosen rates: at most 10 epochs each
        + 6 * 10 * 1000  # 3 seeds x 2 initialisations at their chosen epochs
        + 6 * 30 * 100 + 6 * 12 * 300,  # the curve: 3 seeds x 2 initialisations at 100 and 300 labels
        "resnet50_inference": 6 * 5 * 2000 + 2 * 10 * 2000  # validation after every epoch of the sweep and the stops
        + 6 * 10000 + 12 * 10000,  # test: 6 runs at 1,000 labels (seed 0's reused for the confusion matrix), 12 on the curve
    },
    "02": {"bert_training": 3 * 3 * 5000  # 3 seeds of the pretrained model, 3 epochs of 5,000 sentences
           + 2 * 3 * 5000,  # random init: two learning rates, at most 3 epochs each (early stopping may end sooner)
           "bert_inference": (3 + 2 * 3) * 2000 + 4 * 872,  # seed 0's runs validate every epoch; four tests
           "resnet50_training": 5 * 1000, "resnet50_inference": 10000},
    "03": {  # 1,500 labels x 3 epochs = 4,500 images a run; head-only runs only run the frozen body forward
        "resnet50_training": 13 * 4500,  # table rows but head (6), 2 more seeds of full and gradual (4), 3 gradual
        # runs with BatchNorm in training mode
        "resnet50_inference": 9 * 4500  # head-only runs: the table's, 2 more seeds, 3 + 3 for the BatchNorm trap
        + 19 * 10000 + 6 * 3 * 2000,  # 19 tested runs; 6 gradual runs validate every epoch
        "bert_training": 5 * 2 * 3000,  # the 5 table rows, one run each
        "bert_inference": 5 * 872},
    # (+ the preprocessing section: 1,000 images twice more at 224 px and once at 112 px, a quarter of the work)
    "04": {"resnet50_inference": 20000 + 2 * 10000 + 2 * 1000 + 1000 // 4, "resnet50_training": 20000 + 50000,
           "bert_training": 2 * 20000, "bert_inference": 2 * 872},
    # 25 runs of 5 epochs on 1,000 labels: 3 learning rates, 10 strengths, 4 arms x 3 fresh seeds; each run is
    # validated once and describes 512 photo crops at 96 px (about a fifth of a 224 px image each) for the forgetting
    # measure
    "05": {"resnet50_training": 25 * 5 * 1000, "resnet50_inference": 25 * (2000 + 512 // 5) + 12 * 10000},
    "06": {  # a teacher on 5,000 labels (at most 5 epochs, validated after each), its logits on the transfer set
        "resnet50_training": 5 * 5000,
        "resnet50_inference": 5 * 2000 + 10000 + 48000,
        # 32 students x one pass over the 48,000-image transfer set (or as many steps on the labelled images):
        # 13 choice runs, 3 arms x 3 seeds (five in the quick profile), and the plenty-of-labels contrast (4 choice
        # runs, 2 arms x 3 seeds)
        "student_32px": 32 * 48000 + 32 * 2000 + 9 * 10000,
        "bert_training": 2 * 8000 + 2 * 2 * 8000 // 2,  # the 12-layer teacher, two 3-layer students
        "bert_inference": 3 * 872,
    },
    # 3 seeds x (source only, no reversal, DANN, trained on target): one pass over 55,000 digits, with a target
    # batch per step for the two that adapt; one more DANN run with a strong domain weight
    "07": {"dann_digits": 3 * (55000 + 2 * 55000 + 2 * 55000 + 55000) + 2 * 55000},
}
# Notebook 08 is budgeted in seconds: two strategy searches of 4 minutes each. From scratch runs outside the budgets:
# 3 learning rates x at most 30 epochs x the demo's 400 training images, validated on its 300 after every epoch.
FIXED_MINUTES = {"08": 8.0}
WORK["08"] = {"resnet50_training": 3 * 30 * 400, "resnet50_inference": 3 * 30 * 300}


# What a fresh Colab VM downloads per notebook (each notebook runs on its own VM unless KEEP_ON_DRIVE = True), in MB:
# ResNet-50 IMAGENET1K_V2 98, CIFAR-10 (python) 163, MNIST 12, bert-base-uncased (safetensors and tokenizer) 441,
# SST-2 (GLUE parquet) 7, and the course's wheel with its setup cell. At 20 MB/s, an assumption on the slow side for
# Colab's network (the CIFAR-10 host is the slowest of these), plus 15 s for the setup cell's pip install.
DOWNLOAD_MB = {"00": 110, "01": 261, "02": 709, "03": 709, "04": 709, "05": 261, "06": 709, "07": 12, "08": 551}
DOWNLOAD_MB_PER_SECOND = 20
SETUP_SECONDS = 15

# CPU work that stays on the CPU with a GPU present (probes, CPU latencies, int8 inference, t-SNE), in minutes on
# this project's 2-core machine at the full profile's sizes: benchmarks/cpu_work.py, whose latest line in
# results/cpu2core_full_profile_cpu_work.jsonl is read here. Steps under a few seconds are not counted.
CPU_RESULTS = Path(__file__).parent / "results" / "cpu2core_full_profile_cpu_work.jsonl"


def cpu_minutes() -> dict[str, float]:
    if not CPU_RESULTS.exists():
        return {}
    return json.loads(CPU_RESULTS.read_text().strip().splitlines()[-1])["minutes"]


def gpu_minutes(notebook: str) -> float:
    seconds = sum(n / THROUGHPUT[kind] for kind, n in WORK[notebook].items())
    return FIXED_MINUTES.get(notebook, 0.0) + seconds / 60


def download_minutes(notebook: str) -> float:
    return (DOWNLOAD_MB[notebook] / DOWNLOAD_MB_PER_SECOND + SETUP_SECONDS) / 60


def minutes(notebook: str) -> float:
    return gpu_minutes(notebook) + cpu_minutes().get(notebook, 0.0) + download_minutes(notebook)


if __name__ == "__main__":
    total = 0.0
    cpu = cpu_minutes()
    for notebook in WORK:
        total += minutes(notebook)
        print(f"{notebook}: {minutes(notebook):5.1f} min (GPU work {gpu_minutes(notebook):4.1f}, CPU "
              f"{cpu.get(notebook, 0.0):4.1f}, downloads and setup {download_minutes(notebook):3.1f})")
    print(f"all: {total:5.1f} min")
