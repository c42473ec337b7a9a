"""Gets a token from examples/api with Python requests, as a user would.

Usage: HTTPAUTH_CLIENT_PASSWORD=... python3 requests_client.py URL LOGIN str|bytes

str:   auth=(login, password) with str values; requests encodes them as
       ISO-8859-1 (latin-1), so a non-ASCII password is sent in Latin-1.
bytes: auth=(login.encode(), password.encode()): UTF-8, as curl sends.

Prints "STATUS TOKEN" (TOKEN is "-" when the reply has none).
"""
import os
import sys

import requests

url, login, mode = sys.argv[1], sys.argv[2], sys.argv[3]
password = os.environb[b"HTTPAUTH_CLIENT_PASSWORD"].decode("utf-8")
if mode == "bytes":
    auth = (login.encode("utf-8"), password.encode("utf-8"))
else:
    auth = (login, password)
r = requests.post(url + "/api/v1/tokens/", auth=auth, timeout=30)
try:
    token = r.json().get("token") or "-"
except ValueError:
    token = "-"
print(r.status_code, token)
