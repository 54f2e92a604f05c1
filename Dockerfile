# docfuse on CPU: the CLI, the workers (ingest and the extractive engine) and the watcher.
# Build: docker build -t docfuse .      The GPU variant is Dockerfile.gpu.
FROM python:3.11-slim

ENV PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DOCFUSE_DATA_DIR=/data \
    HF_HOME=/hf-cache

WORKDIR /opt/docfuse
# torch first, from PyTorch's CPU index: the PyPI wheel would pull in CUDA (gigabytes).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY pyproject.toml README.md ./
COPY app ./app
COPY pipeline ./pipeline
COPY model ./model
COPY workers ./workers
COPY ui ./ui
RUN pip install .

RUN useradd --create-home docfuse && mkdir -p /data /hf-cache /inbox \
    && chown docfuse /data /hf-cache /inbox
USER docfuse
CMD ["docfuse", "--help"]
