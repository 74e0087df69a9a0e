# One image for every Forewarn service; docker-compose picks the subcommand.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY forewarn forewarn
COPY gateway gateway
COPY ingest ingest
COPY detectors detectors
COPY ticketing ticketing
COPY device_sim device_sim
COPY bench bench
COPY profiles profiles
RUN pip install --no-cache-dir . && useradd --system --no-create-home forewarn
# The services need no root: a compromised process gets an unprivileged user.
USER forewarn
# Vendor register maps are files, not package data: point the simulator and gateway at them.
ENV FOREWARN_PROFILES=/app/profiles
ENTRYPOINT ["forewarn"]
