# One image for every process of askdocs:
#   rag serve --host 0.0.0.0            the REST + OpenAI-compatible API (port 8000, the default command)
#   search-proxy serve --host 0.0.0.0   the web-search proxy (port 8300)
#   rag ingest /docs --kb handbook      a batch (re-)index, e.g. from a CronJob
#   ray start ... / rag reindex --engine ray   a Ray cluster's pods and driver (KubeRay RayJob)
#
# Install order as in scripts/install.sh: the CPU build of torch first (so nothing pulls a
# multi-GB CUDA build), then the project, then unstructured-inference without its dependencies.
# The analyst workspace (ui/) is built in a Node stage; only its static output reaches the image.
FROM node:20-slim AS ui
WORKDIR /ui
COPY ui/package.json ui/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY ui ./
RUN npx vite build --outDir /ui-dist --emptyOutDir

FROM python:3.11-slim

# Where the CPU torch wheel comes from. scripts/install.sh gets the CPU build from its registry;
# on public PyPI the Linux wheel bundles CUDA, so the CPU wheel index is the default here.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=true \
    TOKENIZERS_PARALLELISM=false \
    HF_HOME=/data/hf \
    RAG_DATA_DIR=/data \
    RAG_PROMPT__PROMPTS_DIR=/app/prompts

# libmagic: file-type detection in unstructured; poppler: PDF page rendering for pdf2image.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libmagic1 poppler-utils \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

COPY requirements-torch.txt ./
RUN python -m pip install --upgrade "pip>=24" wheel \
    && python -m pip install --index-url "${TORCH_INDEX_URL}" -r requirements-torch.txt

COPY pyproject.toml README.md ./
COPY ingest ./ingest
COPY rag ./rag
COPY search_proxy ./search_proxy
COPY servicekit ./servicekit
COPY --from=ui /ui-dist ./rag/api/static/ui
RUN python -m pip install ".[ray,s3]" \
    && python -m pip install --no-deps "unstructured-inference==1.6.14"

# Prompt templates are files, read at run time (RAG_PROMPT__PROMPTS_DIR); data/ is the sample KB.
COPY prompts ./prompts
COPY data ./data

RUN useradd --system --uid 10001 --home-dir /data askdocs \
    && mkdir -p /data && chown askdocs /data
USER askdocs
VOLUME ["/data"]
EXPOSE 8000 8300

CMD ["rag", "serve", "--host", "0.0.0.0"]
