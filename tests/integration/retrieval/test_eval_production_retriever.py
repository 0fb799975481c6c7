"""``rag eval retrieval`` scores the retriever production runs, built from the production settings.

With an English-only model, production ranks Chinese questions by BM25 (``foreign_dense_weight``
0 by default): dense hits only fill in after the lexical ones, so the evaluated hybrid row must
rank exactly as BM25 does. Giving the dense side full weight (what the evaluation did when it
built its own retriever) changes the ranking on the same data.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.eval.cli import eval_app
from rag.settings import get_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DOCS = {
    "battery": "NW-50 机器人的电池容量为1920瓦时，满电可以连续巡检十一个小时。",
    "warranty": "北风机器人的标准保修期为二十七个月，从交付之日起计算。",
    "forklift": "叉车通道宽度不得小于三米，叉车司机必须持证上岗。",
    "storage": "备件仓库温度须保持在十五至二十五摄氏度之间，湿度低于百分之六十。",
    "charger": "充电桩必须安装在通风良好的位置，并使用专用的十六安培电路。",
    "leave": "员工入职满一年后每年享有十八个工作日的带薪年假。",
    "travel": "差旅住宿标准为每晚八百五十元，超出部分需要部门经理审批。",
    "password": "登录密码长度不少于十四位，并且每九十天必须更换一次。",
    "training": "新员工入职培训项目名为启航营，为期两周，在总部举行。",
    "fire": "每个防火柜最多存放八个电池包，消防演练每季度举行一次。",
    "inspection": "整机出厂前须完成七十二小时老化测试，并记录每一项检测结果。",
    "dock": "装卸码头每天早上七点开放，货车需要提前预约卸货时段。",
}
QUERIES = {
    "q1": ("电池容量是多少瓦时？", "battery"),
    "q2": ("标准保修期有多少个月？", "warranty"),
    "q3": ("叉车通道宽度有什么要求？", "forklift"),
    "q4": ("备件仓库温度要保持在多少度？", "storage"),
    "q5": ("充电桩需要什么电路？", "charger"),
    "q6": ("带薪年假有多少个工作日？", "leave"),
    "q7": ("差旅住宿标准是每晚多少元？", "travel"),
    "q8": ("登录密码长度至少多少位？", "password"),
    "q9": ("入职培训项目叫什么名字？", "training"),
    "q10": ("防火柜最多存放几个电池包？", "fire"),
    "q11": ("出厂前老化测试需要多少小时？", "inspection"),
    "q12": ("装卸码头几点开放？", "dock"),
}


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "zh"
    (root / "qrels").mkdir(parents=True)
    rows = [json.dumps({"_id": d, "title": "", "text": t}, ensure_ascii=False) for d, t in DOCS.items()]
    (root / "corpus.jsonl").write_text("\n".join(rows) + "\n", encoding="utf-8")
    queries = [json.dumps({"_id": q, "text": text}, ensure_ascii=False) for q, (text, _) in QUERIES.items()]
    (root / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    qrels = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t1" for q, (_, d) in QUERIES.items()]
    (root / "qrels" / "test.tsv").write_text("\n".join(qrels) + "\n", encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("RAG_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _evaluate(dataset: Path, work: Path, report: Path, *options: str) -> dict[str, dict[str, float]]:
    args = ["retrieval", "--dataset", str(dataset), "--work-dir", str(work), "--json", str(report), *options]
    result = CliRunner().invoke(eval_app, args)
    assert result.exit_code == 0, result.output
    body = json.loads(report.read_text())
    return {r["mode"]: r["metrics"] for r in body["results"]} | {"_run": body["run"]["retrieval"]}


def test_the_hybrid_row_is_what_production_ranks(dataset: Path, tmp_path: Path) -> None:
    production = _evaluate(dataset, tmp_path / "work", tmp_path / "a.json")
    assert production["_run"]["foreign_dense_weight"] == 0.0  # the production default, recorded in the report
    assert production["lexical"]["ndcg@10"] > 0.8  # BM25 finds these
    assert production["hybrid"] == production["lexical"]  # dense (English-only, Chinese text) only fills in

    equal_weights = _evaluate(dataset, tmp_path / "work", tmp_path / "b.json", "--foreign-dense-weight", "1")
    assert equal_weights["_run"]["foreign_dense_weight"] == 1.0
    assert equal_weights["lexical"] == production["lexical"]  # the same index, reused
    assert equal_weights["hybrid"]["ndcg@10"] < production["hybrid"]["ndcg@10"]
