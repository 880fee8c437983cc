#!/usr/bin/env python3
"""Write hashes.json: password hashes made by real, pinned werkzeug releases.

esauth imports users from the Flask + Elasticsearch tutorial app, which stores
werkzeug.security.generate_password_hash output. These fixtures let the Go
tests prove that lib/password verifies what werkzeug really wrote, rather than
what we believe it writes.

Run from anywhere with Python 3.11 (werkzeug 0.11 still imports on it, 0.14
does not) and network access to PyPI:

    python3 lib/password/testdata/werkzeug/make_fixtures.py

Each werkzeug version is installed with `pip install --target` into a
temporary directory and run in a child interpreter, so nothing is installed
into the caller's environment. Salts are random, so each run writes different
hashes; the checked-in hashes.json is the output of one run, made with
Python 3.11.7 and pip from PyPI.

Versions and what they contribute:
  3.1.9   default method scrypt:32768:8:1; pbkdf2 default 1,000,000 iterations
  2.3.8   default method pbkdf2:sha256:600000; scrypt came in 2.3
  2.0.3   default method pbkdf2:sha256:260000 (16-character salt)
  1.0.1   default method pbkdf2:sha256:150000 (8-character salt)
  0.11.15 default method pbkdf2:sha1:1000 (the default from 0.9 to 0.11)

Most fixtures pass a low cost explicitly (pbkdf2 at 1000 iterations, scrypt at
N of 256 to 16384) so the Go tests stay fast under -race; the method "default"
marks a call of generate_password_hash with no method, which proves each
release's true default, and "pbkdf2" with no parameters proves 3.1's default
iteration count.
"""

import json
import os
import subprocess
import sys
import tempfile

LONG = "correct horse battery staple, " * 6 + "and then some: ünïcödé ✓✓✓"

# (werkzeug version, [(method or "default", password), ...]). "default" calls
# generate_password_hash(password) with no method.
PLAN = [
    (
        "3.1.9",
        [
            ("default", "correct horse battery staple"),
            ("pbkdf2", "pässwörd-✓"),
            ("scrypt:16384:8:1", "pässwörd-✓"),
            ("scrypt:1024:8:1", "correct horse battery staple"),
            ("scrypt:1024:8:1", LONG),
            ("scrypt:1024:1:2", "p$ss:w0rd"),
            ("scrypt:256:4:1", "pässwörd-✓"),
            ("pbkdf2:sha256:1000", "correct horse battery staple"),
            ("pbkdf2:sha256:1000", LONG),
            ("pbkdf2:sha512:1000", "pässwörd-✓"),
            ("pbkdf2:sha512:1000", LONG),
            ("pbkdf2:sha384:1000", "p$ss:w0rd"),
            ("pbkdf2:sha224:1000", "p$ss:w0rd"),
            ("pbkdf2:sha1:1000", LONG),
            ("pbkdf2:sha256:1", "correct horse battery staple"),
        ],
    ),
    (
        "2.3.8",
        [
            ("default", "pässwörd-✓"),
            ("scrypt:1024:8:1", "pässwörd-✓"),
            ("pbkdf2:sha256:1000", "p$ss:w0rd"),
        ],
    ),
    (
        "2.0.3",
        [
            ("default", LONG),
            ("pbkdf2:sha1:1000", "pässwörd-✓"),
            ("pbkdf2:sha256:1000", "correct horse battery staple"),
        ],
    ),
    (
        "1.0.1",
        [
            ("default", "pässwörd-✓"),
            ("pbkdf2:sha512:1000", "correct horse battery staple"),
            ("pbkdf2:sha256:1000", LONG),
        ],
    ),
    (
        "0.11.15",
        [
            ("default", "pässwörd-✓"),
            ("pbkdf2:sha1:1000", LONG),
            ("pbkdf2:sha256:2000", "correct horse battery staple"),
        ],
    ),
]

# CHILD runs inside the interpreter that has one werkzeug version on its path.
# It reads the plan on stdin and writes the fixtures on stdout, and checks each
# hash with the same version's check_password_hash before handing it back.
CHILD = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import werkzeug
from werkzeug.security import check_password_hash, generate_password_hash
version = sys.argv[1]
got = getattr(werkzeug, "__version__", None)
if got is None:
    from importlib.metadata import version as dist_version
    got = dist_version("werkzeug")
assert got == version, (got, version)
out = []
for method, pw in json.load(sys.stdin):
    if method == "default":
        h = generate_password_hash(pw)
    else:
        h = generate_password_hash(pw, method=method)
    assert check_password_hash(h, pw), h
    assert not check_password_hash(h, pw + "x"), h
    out.append({"werkzeug": version, "method": method, "password": pw, "hash": h})
json.dump(out, sys.stdout)
"""


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = []
    with tempfile.TemporaryDirectory() as tmp:
        for version, cases in PLAN:
            target = os.path.join(tmp, version)
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "--quiet",
                 "--disable-pip-version-check", "--no-warn-conflicts",
                 "--target", target,
                 f"werkzeug=={version}"],
                check=True,
            )
            env = dict(os.environ, PYTHONPATH=target, PYTHONIOENCODING="utf-8")
            res = subprocess.run(
                [sys.executable, "-c", CHILD, version],
                input=json.dumps(cases), stdout=subprocess.PIPE, text=True,
                encoding="utf-8", env=env, check=True,
            )
            fixtures.extend(json.loads(res.stdout))
            print(f"werkzeug {version}: {len(cases)} hashes", file=sys.stderr)
    path = os.path.join(here, "hashes.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(fixtures, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(fixtures)} fixtures to {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
