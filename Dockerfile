# The editor's application image: one Daphne worker per container.
# docker-compose.yml runs three of them behind nginx, plus a one-shot migrate.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first, so that code changes do not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

# The code stays owned by root: the app user can read it but not change it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin app
COPY . .
# Static files under hashed names, gzipped, into /app/staticfiles (owned by root
# too), which WhiteNoise serves with a ten-year cache; a worker refuses to start
# without them (realtime_site/static_storage.py). Collected with DEBUG off, as the
# workers run: the settings then want a real SECRET_KEY and ALLOWED_HOSTS, so this
# step alone gets a random key it never uses, kept nowhere in the image.
RUN DEBUG=false ALLOWED_HOSTS=build SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    python manage.py collectstatic --noinput --verbosity 0
USER 10001:10001

EXPOSE 8000
# Daphne with the editor's frame writer (editor/server.py); Daphne's options.
# No --proxy-headers: the app reads X-Forwarded-For itself, and only from TRUSTED_PROXIES.
CMD ["python", "-m", "editor.server", "-b", "0.0.0.0", "-p", "8000", "realtime_site.asgi:application"]
