.PHONY: install demo test lint typecheck bench

install:
	bash scripts/install.sh

demo:
	bash scripts/quickstart.sh

test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check ingest rag search_proxy tests bench scripts
	.venv/bin/ruff format --check ingest rag search_proxy

typecheck:
	.venv/bin/mypy

bench:
	.venv/bin/python bench/bench_page_fetch.py
