.PHONY: install demo test test-fast lint typecheck bench

install:
	bash scripts/install.sh

demo:
	bash scripts/quickstart.sh

test:
	bash scripts/test.sh

# The unit tests alone (in-process, no servers), in well under 30 s; installs nothing.
test-fast:
	HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/unit -m unit -q

lint:
	.venv/bin/ruff check ingest rag search_proxy servicekit tests bench scripts
	.venv/bin/ruff format --check ingest rag search_proxy servicekit

typecheck:
	.venv/bin/mypy

bench:
	.venv/bin/python bench/bench_page_fetch.py
