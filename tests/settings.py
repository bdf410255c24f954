"""Test settings: the project's settings, served over plain HTTP and with keys apart from `make run`'s."""

import os

os.environ.setdefault("HTTPS", "0")
if not os.environ.get("REDIS_URL"):
    # On the embedded Redis, tests use their own database (some flush it), apart from `make run`'s.
    from pytake import embedded

    os.environ["REDIS_URL"] = f"{embedded.ensure_redis_url()}?db=15"
# The AI providers' SDK retries (each waits at least what Retry-After asks): one is enough to see them.
os.environ.setdefault("ASSISTANT_MAX_RETRIES", "1")
os.environ.setdefault("REDIS_KEY_PREFIX", f"pytake-test-{os.getpid()}")

from pytake.settings import *  # noqa: E402,F403

# Hashing demo passwords with PBKDF2 dominates test time; the algorithm is not what tests check.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
