# The example worker of compose.yml: the pgqrs Python package and
# examples/handlers.py. Built from the repository root.
FROM python:3.12-slim
WORKDIR /app
# The package build reads the version from pgqrs.control and the SQL from extension/.
COPY pgqrs.control ./
COPY extension/ extension/
COPY python/ python/
RUN pip install --no-cache-dir ./python
COPY examples/handlers.py examples/
ENV PYTHONPATH=/app/examples
CMD ["sh", "-c", "pgqrs queue create emails --if-not-exists && exec pgqrs worker run emails handlers:send_email"]
