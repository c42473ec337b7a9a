#!/usr/bin/env python3
"""Make password hashes with the real implementations, as JSON lines.

    python3 testdata/foreignhash/make_fixtures.py [--random] [-o FILE]

Each line is {"format", "password", "hash", "source"}: format is the name
httpauth.CheckPasswordHash gives the hash, source the library and version
that made it. Without --random the passwords are fixed (ASCII and not) and
the output is the committed testdata/foreignhash/fixtures.jsonl; with
--random every password is random too (CI runs it so, and the Go test
TestForeignHashFixtures verifies the file named by HTTPAUTH_FOREIGN_HASHES).

Generators, each skipped with a message on stderr when its library is
missing (Debian 12: python3-werkzeug python3-django python3-passlib
python3-argon2 python3-bcrypt php-cli):

  werkzeug    generate_password_hash (Werkzeug 2.2: pbkdf2:sha256/sha512;
              and pbkdf2:sha256 without a count, checked by Werkzeug itself)
  werkzeug3   Werkzeug 3.x's scrypt default, which Debian's Werkzeug 2.2
              predates: reimplemented here with hashlib.scrypt exactly as
              Werkzeug 3 does it (salt = 16 characters of its alphabet,
              used as UTF-8; hex of dklen=64), then checked by re-deriving
  django      Django's own hashers: pbkdf2_sha256, argon2 (argon2-cffi),
              bcrypt_sha256, bcrypt
  django4     Django >= 4.0's scrypt$N$salt$r$p$b64, which Django 3.2 lacks:
              reimplemented with hashlib.scrypt as Django 4's
              ScryptPasswordHasher.encode does (dklen=64, std base64)
  passlib     pbkdf2_sha256, pbkdf2_sha512
  argon2      argon2-cffi PasswordHasher (argon2id) and argon2i
  bcrypt      python3-bcrypt $2b$ and $2a$
  php         password_hash: PASSWORD_BCRYPT ($2y$), PASSWORD_ARGON2ID/I
"""

import argparse
import base64
import hashlib
import importlib.metadata
import json
import secrets
import shutil
import string
import subprocess
import sys

FIXED = ["correct horse battery staple", "pässwörd", "密码🔑 パスワード"]
LONG = "ü" * 60  # 120 bytes: past bcrypt's 72, for bcrypt_sha256


def rand_password():
    alphabet = string.ascii_letters + string.digits + " :$!äöüßéñ密码🔑"
    return "".join(secrets.choice(alphabet) for _ in range(secrets.randbelow(20) + 8))


def skip(name, why):
    print(f"make_fixtures: skipping {name}: {why}", file=sys.stderr)


def version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        mod = __import__(dist.replace("-cffi", "").replace("python3-", ""))
        return getattr(mod, "__version__", "?")


def gen_werkzeug(pws, out):
    from werkzeug.security import check_password_hash, generate_password_hash

    src = "werkzeug " + version("werkzeug")
    for i, pw in enumerate(pws):
        # The library's default (260000 in 2.2) for the first password;
        # cheaper counts, as older apps have, for the rest.
        out("werkzeug-pbkdf2-sha256", pw, generate_password_hash(pw, "pbkdf2:sha256" if i == 0 else "pbkdf2:sha256:20000"), src)
        out("werkzeug-pbkdf2-sha512", pw, generate_password_hash(pw, "pbkdf2:sha512:20000"), src)
    # "pbkdf2:sha256$salt$hex" (no count) means Werkzeug 2.2's default.
    h = generate_password_hash(pws[0], "pbkdf2:sha256:260000").replace(":260000$", "$", 1)
    assert check_password_hash(h, pws[0]), "werkzeug does not verify its no-count form"
    out("werkzeug-pbkdf2-sha256", pws[0], h, src + " (count removed, checked by check_password_hash)")


SALT_CHARS = string.ascii_letters + string.digits  # werkzeug.security.SALT_CHARS


def gen_werkzeug3(pws, out):
    src = f"hashlib.scrypt (Python {sys.version.split()[0]}, {hashlib.scrypt.__module__}) as Werkzeug 3.x"
    for i, pw in enumerate(pws):
        n, r, p = (2**15, 8, 1) if i == 0 else (2**14, 8, 1)
        salt = "".join(secrets.choice(SALT_CHARS) for _ in range(16))
        dk = hashlib.scrypt(pw.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=132 * n * r * p, dklen=64)
        out("werkzeug-scrypt", pw, f"scrypt:{n}:{r}:{p}${salt}${dk.hex()}", src)


def gen_django(pws, out):
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure()
    from django.contrib.auth import hashers as dh

    src = "django " + django.get_version()
    pb = dh.PBKDF2PasswordHasher()
    bs = dh.BCryptSHA256PasswordHasher()
    bp = dh.BCryptPasswordHasher()
    import bcrypt

    class CheapArgon2(dh.Argon2PasswordHasher):
        time_cost, memory_cost, parallelism = 1, 8192, 2

    for i, pw in enumerate(pws):
        iters = None if i == 0 else 20000  # Django 3.2's default: 260000
        h = pb.encode(pw, pb.salt(), iters)
        assert pb.verify(pw, h)
        out("django-pbkdf2-sha256", pw, h, src)
        ar = dh.Argon2PasswordHasher() if i == 0 else CheapArgon2()  # default m=100 MiB, t=2, p=8
        h = ar.encode(pw, ar.salt())
        assert ar.verify(pw, h)
        out("django-argon2id", pw, h, src + " + argon2-cffi " + version("argon2-cffi"))
        h = bs.encode(pw, bcrypt.gensalt(10))
        assert bs.verify(pw, h)
        out("django-bcrypt-sha256", pw, h, src + " + bcrypt " + version("bcrypt"))
        h = bp.encode(pw, bcrypt.gensalt(10))
        out("django-bcrypt", pw, h, src + " + bcrypt " + version("bcrypt"))
    h = bs.encode(LONG, bcrypt.gensalt(10))
    out("django-bcrypt-sha256", LONG, h, src + " + bcrypt " + version("bcrypt"))
    # Django's argon2i (its hasher verifies any argon2 variant).
    import argon2

    salt = pb.salt()
    raw = argon2.low_level.hash_secret(pws[0].encode(), salt.encode(), time_cost=2, memory_cost=8192, parallelism=2, hash_len=16, type=argon2.low_level.Type.I)
    h = "argon2" + raw.decode("ascii")
    assert dh.Argon2PasswordHasher().verify(pws[0], h)
    out("django-argon2i", pws[0], h, src + " + argon2-cffi " + version("argon2-cffi"))


def gen_django4(pws, out):
    src = f"hashlib.scrypt (Python {sys.version.split()[0]}) as Django 4.x ScryptPasswordHasher"
    for pw in pws:
        n, r, p = 2**14, 8, 5  # Django's work_factor, block_size, parallelism
        salt = "".join(secrets.choice(SALT_CHARS) for _ in range(22))
        dk = hashlib.scrypt(pw.encode(), salt=salt.encode(), n=n, r=r, p=p, maxmem=0, dklen=64)
        out("django-scrypt", pw, "scrypt$%d$%s$%d$%d$%s" % (n, salt, r, p, base64.b64encode(dk).decode("ascii").strip()), src)


def gen_passlib(pws, out):
    import passlib
    from passlib.hash import pbkdf2_sha256, pbkdf2_sha512

    src = "passlib " + passlib.__version__
    for pw in pws:
        out("passlib-pbkdf2-sha256", pw, pbkdf2_sha256.hash(pw), src)
        out("passlib-pbkdf2-sha512", pw, pbkdf2_sha512.hash(pw), src)


def gen_argon2(pws, out):
    import argon2

    src = "argon2-cffi " + version("argon2-cffi")
    for i, pw in enumerate(pws):
        ph = argon2.PasswordHasher() if i == 0 else argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=2)
        out("argon2id", pw, ph.hash(pw), src)
        phi = argon2.PasswordHasher(time_cost=2, memory_cost=8192, parallelism=1, type=argon2.Type.I)
        out("argon2i", pw, phi.hash(pw), src)


def gen_bcrypt(pws, out):
    import bcrypt

    src = "bcrypt " + version("bcrypt")
    for pw in pws:
        out("bcrypt", pw, bcrypt.hashpw(pw.encode(), bcrypt.gensalt(10)).decode(), src)
        out("bcrypt", pw, bcrypt.hashpw(pw.encode(), bcrypt.gensalt(10, prefix=b"2a")).decode(), src)


PHP = r"""
$pws = json_decode(stream_get_contents(STDIN));
foreach ($pws as $pw) {
    echo json_encode(["bcrypt", $pw, password_hash($pw, PASSWORD_BCRYPT, ["cost" => 10])]), "\n";
    if (defined("PASSWORD_ARGON2ID")) {
        echo json_encode(["argon2id", $pw, password_hash($pw, PASSWORD_ARGON2ID, ["memory_cost" => 8192, "time_cost" => 2, "threads" => 1])]), "\n";
        echo json_encode(["argon2i", $pw, password_hash($pw, PASSWORD_ARGON2I, ["memory_cost" => 8192, "time_cost" => 2, "threads" => 1])]), "\n";
    }
}
"""


def gen_php(pws, out):
    php = shutil.which("php")
    if php is None:
        raise ImportError("php not found")
    ver = subprocess.run([php, "-r", "echo PHP_VERSION;"], check=True, capture_output=True, text=True).stdout
    res = subprocess.run([php, "-r", PHP], input=json.dumps(pws), check=True, capture_output=True, text=True)
    for line in res.stdout.splitlines():
        fmt, pw, h = json.loads(line)
        out(fmt, pw, h, "php " + ver + " password_hash")


GENERATORS = [
    ("werkzeug", gen_werkzeug),
    ("werkzeug3", gen_werkzeug3),
    ("django", gen_django),
    ("django4", gen_django4),
    ("passlib", gen_passlib),
    ("argon2", gen_argon2),
    ("bcrypt", gen_bcrypt),
    ("php", gen_php),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--random", action="store_true", help="random passwords (salts are always random)")
    ap.add_argument("-o", "--output", default="-", help="output file (default stdout)")
    args = ap.parse_args()
    pws = [rand_password() for _ in range(3)] if args.random else FIXED
    lines = []

    def out(fmt, pw, h, src):
        lines.append(json.dumps({"format": fmt, "password": pw, "hash": h, "source": src}, ensure_ascii=False))

    made = 0
    for name, gen in GENERATORS:
        try:
            gen(pws, out)
            made += 1
        except ImportError as e:
            skip(name, f"{e} (install the Debian package)")
    text = "\n".join(lines) + "\n"
    if args.output == "-":
        sys.stdout.write(text)
    else:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
    print(f"make_fixtures: {len(lines)} hashes from {made} of {len(GENERATORS)} generators", file=sys.stderr)
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main())
