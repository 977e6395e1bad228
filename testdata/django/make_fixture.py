#!/usr/bin/python3
"""Write a `manage.py dumpdata auth.user` fixture made by Django's own hashers.

Run with Debian's Python (python3-django, python3-argon2, python3-bcrypt):

    /usr/bin/python3 testdata/django/make_fixture.py testdata/django

It writes, into the given folder:

  users.json  the dumpdata of auth.user, one user per Django password hasher
              (and an argon2i hash, an unusable password, an inactive user)
  users.csv   the plain CSV import format with bare bcrypt hashes ($2a$,
              $2b$, $2y$) as Supabase, Rails and Laravel export them

Every hash is checked with django.contrib.auth.hashers.check_password (or
bcrypt.checkpw for the bare ones) before it is written. The passwords that
made them are PASSWORDS below; the Go tests log in with them.

The work factors are lowered the way Django's documentation shows for test
settings (a subclass of each hasher with fewer iterations or rounds): the
encodings are those of Django's defaults, and the Go tests, which verify
every hash under the race detector, stay fast. The Go tests also check the
bounds on each work factor, and TestImportFreshDjangoDump reruns this script
on every CI run.

Debian's Django 3.2 predates ScryptPasswordHasher (Django 4.0): the class
below is Django 4.2's, unchanged but for its imports, so the scrypt$ hashes
are exactly those a Django 4.2+ site stores.
"""

import base64
import csv
import hashlib
import io
import json
import os
import sys

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="fixture-only",
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}},
    PASSWORD_HASHERS=[
        "__main__.FastPBKDF2PasswordHasher",
        "__main__.FastPBKDF2SHA1PasswordHasher",
        "__main__.FastArgon2PasswordHasher",
        "__main__.FastBCryptSHA256PasswordHasher",
        "__main__.FastBCryptPasswordHasher",
        "__main__.FastScryptPasswordHasher",
    ],
)
django.setup()

from django.contrib.auth import hashers  # noqa: E402
from django.contrib.auth.hashers import BasePasswordHasher, check_password, make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils.crypto import constant_time_compare  # noqa: E402


class ScryptPasswordHasher(BasePasswordHasher):
    """Django 4.2's django.contrib.auth.hashers.ScryptPasswordHasher."""

    algorithm = "scrypt"
    block_size = 8
    maxmem = 0
    parallelism = 1
    work_factor = 2**14

    def encode(self, password, salt, n=None, r=None, p=None):
        self._check_encode_args(password, salt)
        n = n or self.work_factor
        r = r or self.block_size
        p = p or self.parallelism
        hash_ = hashlib.scrypt(
            password.encode(),
            salt=salt.encode(),
            n=n,
            r=r,
            p=p,
            maxmem=self.maxmem,
            dklen=64,
        )
        hash_ = base64.b64encode(hash_).decode("ascii").strip()
        return "%s$%d$%s$%d$%d$%s" % (self.algorithm, n, salt, r, p, hash_)

    def _check_encode_args(self, password, salt):
        if password is None:
            raise TypeError("password must be provided.")
        if not salt or "$" in salt:
            raise ValueError("salt must be provided and cannot contain $.")

    def decode(self, encoded):
        algorithm, work_factor, salt, block_size, parallelism, hash_ = encoded.split("$", 6)
        assert algorithm == self.algorithm
        return {
            "algorithm": algorithm,
            "work_factor": int(work_factor),
            "salt": salt,
            "block_size": int(block_size),
            "parallelism": int(parallelism),
            "hash": hash_,
        }

    def verify(self, password, encoded):
        decoded = self.decode(encoded)
        encoded_2 = self.encode(
            password,
            decoded["salt"],
            decoded["work_factor"],
            decoded["block_size"],
            decoded["parallelism"],
        )
        return constant_time_compare(encoded, encoded_2)

    def safe_summary(self, encoded):
        return {}

    def must_update(self, encoded):
        return False

    def harden_runtime(self, password, encoded):
        pass


class FastPBKDF2PasswordHasher(hashers.PBKDF2PasswordHasher):
    iterations = 1000


class FastPBKDF2SHA1PasswordHasher(hashers.PBKDF2SHA1PasswordHasher):
    iterations = 1000


class FastArgon2PasswordHasher(hashers.Argon2PasswordHasher):
    time_cost = 1
    memory_cost = 256
    parallelism = 2


class FastBCryptSHA256PasswordHasher(hashers.BCryptSHA256PasswordHasher):
    rounds = 4


class FastBCryptPasswordHasher(hashers.BCryptPasswordHasher):
    rounds = 4


class FastScryptPasswordHasher(ScryptPasswordHasher):
    work_factor = 2**10


# username -> (hasher algorithm or special, password). The Go tests read the
# same table (testdata/django/passwords.json, written below).
PASSWORDS = {
    "pbkdf2_sha256_user": ("pbkdf2_sha256", "Pbkdf2 sha256 secret!"),
    "pbkdf2_sha1_user": ("pbkdf2_sha1", "Pbkdf2 sha1 secret!"),
    "argon2id_user": ("argon2", "Argon2id secret, Django default"),
    "argon2i_user": ("argon2i", "Argon2i secret from an older Django"),
    "bcrypt_sha256_user": ("bcrypt_sha256", "Bcrypt sha256 secret"),
    "bcrypt_user": ("bcrypt", "Plain bcrypt secret"),
    "scrypt_user": ("scrypt", "Scrypt secret of Django 4"),
    "Ünïcode_User": ("pbkdf2_sha256", "pässwörd mit Ümlaut ✓"),
    "inactive_user": ("pbkdf2_sha256", "Inactive user secret"),
}
UNUSABLE = "unusable_user"

# Bare bcrypt hashes of other sites, for the CSV format.
BARE = {
    "supabase_user": ("2a", "Supabase bcrypt secret"),
    "rails_user": ("2b", "Rails bcrypt secret"),
    "laravel_user": ("2y", "Laravel bcrypt secret"),
}


def argon2i(password):
    """An argon2i hash in Django's format, as Django < 3.2 made them."""
    import argon2

    raw = argon2.low_level.hash_secret(
        password.encode(),
        os.urandom(16),
        time_cost=1,
        memory_cost=256,
        parallelism=2,
        hash_len=16,
        type=argon2.low_level.Type.I,
    ).decode("ascii")
    return "argon2" + raw


def main(out):
    import bcrypt
    from datetime import datetime, timezone
    from django.contrib.auth.models import User

    call_command("migrate", verbosity=0)
    joined = datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone.utc)
    seen = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    for i, (username, (algo, password)) in enumerate(PASSWORDS.items()):
        encoded = argon2i(password) if algo == "argon2i" else make_password(password, hasher=algo)
        assert check_password(password, encoded), (username, encoded)
        assert not check_password(password + "x", encoded), username
        User.objects.create(
            username=username,
            email=username.lower() + "@example.com",
            password=encoded,
            is_active=username != "inactive_user",
            is_staff=username == "pbkdf2_sha1_user",
            is_superuser=username == "pbkdf2_sha256_user",
            date_joined=joined.replace(day=1 + i),
            last_login=seen if username == "argon2id_user" else None,
        )
    u = User(username=UNUSABLE, email="unusable@example.com", date_joined=joined)
    u.set_unusable_password()
    assert not u.has_usable_password()
    u.save()

    dump = io.StringIO()
    call_command("dumpdata", "auth.user", indent=2, stdout=dump)
    with open(os.path.join(out, "users.json"), "w", encoding="utf-8") as f:
        f.write(dump.getvalue())

    with open(os.path.join(out, "users.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["username", "email", "password_hash", "is_active", "is_admin", "date_joined", "last_login", "email_verified"])
        for username, (prefix, password) in BARE.items():
            encoded = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4, prefix=b"2b")).decode("ascii")
            encoded = "$" + prefix + encoded[3:]  # $2a$ and $2y$ are the same algorithm as $2b$
            assert bcrypt.checkpw(password.encode(), ("$2b" + encoded[3:]).encode()), username
            w.writerow([username, username + "@example.com", encoded, "true", "false", "2022-05-06T07:08:09Z", "", "true"])

    table = {k: v[1] for k, v in PASSWORDS.items()}
    table.update({k: v[1] for k, v in BARE.items()})
    with open(os.path.join(out, "passwords.json"), "w", encoding="utf-8") as f:
        json.dump(table, f, indent=2, ensure_ascii=False, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
