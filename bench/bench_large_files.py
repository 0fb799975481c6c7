"""Benchmark: `rag reindex` of one huge file at a time, peak RSS and wall time per file.

Each case is a fresh data directory and one `rag reindex` process (bundled MiniLM, parsing in
process), watched every 0.2 s for its peak resident memory (its children included) and stopped
after ``--timeout`` seconds. Cases: a 22 MB text file on a single line, a 50 MB text file of
ordinary paragraphs, and a 20,000-row XLSX sheet. Run it from a checkout (``PYTHONPATH`` is set
to it), e.g. on an older commit to compare::

    python bench/bench_large_files.py --json bench/results/large_files.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SENTENCE = "Robots dock at the charging station overnight and report their battery level to the fleet manager. "


def single_line_text(path: Path, size: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        written = 0
        while written < size:
            out.write(SENTENCE)
            written += len(SENTENCE)
    return path


def paragraph_text(path: Path, size: int) -> Path:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as out:
        written = 0
        while written < size:
            paragraph = " ".join(SENTENCE.strip() for _ in range(rng.randint(2, 8))) + "\n\n"
            out.write(paragraph)
            written += len(paragraph)
    return path


def xlsx_rows(path: Path, rows: int) -> Path:
    import openpyxl

    rng = random.Random(1)
    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("parts")
    sheet.append(["part", "description", "warehouse", "quantity", "price"])
    for i in range(rows):
        kind = rng.choice(["bolt", "gear", "belt", "wheel", "sensor"])
        sheet.append([f"P-{i:05d}", f"spare {kind} model {i % 97}", f"W{i % 12}", rng.randint(1, 500), i * 0.37])
    book.save(path)
    return path


def measure(folder: Path, data_dir: Path, timeout_s: float) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        PYTHONPATH=str(REPO),
        HF_HUB_OFFLINE="1",
        RAG_DATA_DIR=str(data_dir),
        RAG_EMBEDDING__MODEL="bundled:all-minilm-l6-v2",
    )
    command = [sys.executable, "-m", "rag.cli", "reindex", str(folder), "--kb", "big", "--workers", "0", "--json"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    watched = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None and time.perf_counter() - started < timeout_s:
        try:
            rss = watched.memory_info().rss + sum(c.memory_info().rss for c in watched.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.2)
    finished = process.poll() is not None
    if not finished:
        process.kill()
    stdout, stderr = process.communicate()
    seconds = time.perf_counter() - started
    summary = json.loads(stdout.splitlines()[-1]) if finished and stdout.strip() else None
    return {
        "finished": finished,
        "seconds": round(seconds, 1),
        "peak_rss_mb": round(peak / 1e6),
        "exit_code": process.returncode if finished else None,
        "summary": summary,
        "progress_lines": sum("rag.progress" in line for line in stderr.splitlines()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds before a case is stopped")
    parser.add_argument("--cases", default="single_line_22mb,paragraphs_50mb,xlsx_20000_rows")
    args = parser.parse_args()
    makers = {
        "single_line_22mb": lambda d: single_line_text(d / "one_line.txt", 22_000_000),
        "paragraphs_50mb": lambda d: paragraph_text(d / "paragraphs.txt", 50_000_000),
        "xlsx_20000_rows": lambda d: xlsx_rows(d / "parts.xlsx", 20_000),
    }
    results: dict[str, object] = {}
    for name in args.cases.split(","):
        with tempfile.TemporaryDirectory(prefix="bench-large-") as tmp:
            folder = Path(tmp) / "docs"
            folder.mkdir()
            makers[name](folder)
            results[name] = measure(folder, Path(tmp) / "data", args.timeout)
            print(name, json.dumps(results[name]), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
