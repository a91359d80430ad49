FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --system --create-home --home-dir /home/opendata opendata \
    && install -d -o opendata -g opendata /var/lib/opendata

WORKDIR /app
# Only what the package is built from, so a local .venv, instance/ or .services/ never
# enters the image (or even the build context BuildKit sends).
COPY pyproject.toml setup.cfg README.md ./
COPY catalog catalog
COPY api api
COPY harvesters harvesters
COPY portal portal
COPY static static
# Installed in place: the portal serves static/ from beside its packages.
RUN pip install -e .

USER opendata
# Inside a container, loopback (the default) could not be reached from outside it.
ENV OPENDATA_INSTANCE_PATH=/var/lib/opendata \
    OPENDATA_HOST=0.0.0.0
VOLUME /var/lib/opendata
EXPOSE 5000
# Alone, the image serves the embedded defaults: init (idempotent) creates them first, since
# serve refuses a database it has not migrated. docker-compose.yml runs init apart.
CMD ["sh", "-c", "opendata init && exec opendata serve --port 5000"]
