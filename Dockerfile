# The smi-forecast code location: one image for the gRPC code server, the Dagster webserver
# and daemon, the Dask scheduler and workers, and the training pod (docs/DEPLOYMENT.md).
# Build from the repository root:  docker build -t smi-forecast:latest .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home \
    SMI_DATA_DIR=/data

# libgomp: OpenMP runtime of torch's CPU kernels and scikit-learn's trees.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/smi

# torch first, from the CPU wheel index: the default index resolves torch to a multi-GB CUDA
# build. The pin matches pyproject.toml. A GPU training image swaps this line for the CUDA
# wheel of the same release (see docs/DEPLOYMENT.md).
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

# Dependencies before the code, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY smi_assets/__init__.py smi_assets/__init__.py
COPY training/__init__.py training/__init__.py
RUN pip install '.[deploy]' && pip uninstall -y smi-forecast

COPY smi_assets smi_assets
COPY training training
COPY sql sql
COPY dagster_home dagster_home
COPY deploy deploy
COPY workspace.yaml ./
# Editable, so `sql/` and `dagster_home/` resolve next to the package as in a checkout.
RUN pip install --no-deps -e . && mkdir -p "$DAGSTER_HOME" /data
# Compile the counting kernels into their cached extension module now
# (smi_assets/frequency/compiled_kernels.py), so that no container pays the compilation (about
# 20 s), or numba's start-up (about a second a process) where it falls back to numba. The C
# compiler it takes is removed again; the check fails the build if the module was not built.
ENV SMI_KERNEL_CACHE=/opt/smi/kernels
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && python -c "from smi_assets.frequency.counting import load_kernels; load_kernels()" \
    && ls /opt/smi/kernels/smi_counting_kernels_*.so \
    && apt-get purge -y --auto-remove gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*

EXPOSE 4000
# The gRPC code server the webserver and daemon load definitions from (deploy/workspace.docker.yaml).
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "smi_assets.definitions", "-a", "defs", "--location-name", "smi_assets"]
