#!/usr/bin/env bash
# Smoke test: builds the esauth binary, runs it against a real Elasticsearch
# (ELASTICSEARCH_URL, default http://127.0.0.1:9200) with its own index
# prefix, and walks the README's curl walkthrough with a cookies.txt file.
# Fails on the first wrong status. Cleans up its indices and server.
set -euo pipefail

NAME=smoke
source "$(dirname "$0")/serve-lib.sh"

fail() {
  echo "smoke: FAIL: $*" >&2
  echo "--- server log (last 20 lines)" >&2
  tail -n 20 "$WORK/server.log" >&2 || true
  exit 1
}

# expect STATUS DESCRIPTION curl-args... : runs curl, checks the status and
# that the answer is the JSON envelope.
passed=0
expect() {
  local want="$1" what="$2"
  shift 2
  local got
  got=$(curl -sS -o "$WORK/body" -w '%{http_code}' "$@") || fail "$what: curl failed"
  [ "$got" = "$want" ] || fail "$what: status $got, want $want: $(cat "$WORK/body")"
  grep -q '"success":' "$WORK/body" || fail "$what: not the JSON envelope: $(cat "$WORK/body")"
  if grep -q -e 'password_hash' -e '\$argon2id\$' "$WORK/body"; then
    fail "$what: answer carries a password hash"
  fi
  echo "smoke: ok   $want $what"
  passed=$((passed + 1))
}

echo "smoke: building and starting esauth"
ESAUTH_COOKIE_SECURE=false serve_start

cd "$WORK"
J=(-H 'Content-Type: application/json')
expect 201 "create a user" -X POST "$BASE/v1/users" "${J[@]}" \
  -d '{"email_address":"smoke@example.com","password":"correct horse battery","first_name":"Smoke","last_name":"Test"}'
expect 201 "create a user on the original path" -X POST "$BASE/v1/users/new" "${J[@]}" \
  -d '{"email_address":"other@example.com","password":"correct horse battery","first_name":"Other","last_name":"Test"}'
expect 409 "the same email again" -X POST "$BASE/v1/users" "${J[@]}" \
  -d '{"email_address":"SMOKE@example.com","password":"correct horse battery","first_name":"Smoke","last_name":"Test"}'
expect 422 "an invalid signup" -X POST "$BASE/v1/users" "${J[@]}" -d '{"email_address":"x","password":"short","first_name":"","last_name":""}'
expect 401 "/v1/test without a cookie" "$BASE/v1/test"
expect 401 "login with a wrong password" -X POST "$BASE/v1/auth/login" "${J[@]}" \
  -d '{"email_address":"smoke@example.com","password":"wrong password"}'
expect 200 "login" -c cookies.txt -X POST "$BASE/v1/auth/login" "${J[@]}" \
  -d '{"email_address":"smoke@example.com","password":"correct horse battery"}'
grep -q session cookies.txt || fail "login wrote no cookie to cookies.txt"
expect 200 "/v1/test with the cookie" -b cookies.txt "$BASE/v1/test"
expect 200 "verify" -b cookies.txt "$BASE/v1/auth/verify"
expect 200 "list sessions" -b cookies.txt "$BASE/v1/auth/sessions"
expect 200 "read own user" -b cookies.txt "$BASE/v1/users/smoke@example.com"
expect 403 "read another user" -b cookies.txt "$BASE/v1/users/other@example.com"
cp cookies.txt before-change.txt
expect 200 "change the password (the answer sets a new cookie)" -b cookies.txt -c cookies.txt -X POST "$BASE/v1/auth/password" "${J[@]}" \
  -d '{"old_password":"correct horse battery","new_password":"another horse battery"}'
expect 200 "/v1/test with the new cookie" -b cookies.txt "$BASE/v1/test"
expect 401 "the cookie from before the password change" -b before-change.txt "$BASE/v1/test"
cp cookies.txt old-cookies.txt
expect 200 "logout" -b cookies.txt -c cookies.txt -X POST "$BASE/v1/auth/logout"
expect 401 "replay the old cookies.txt after logout" -b old-cookies.txt "$BASE/v1/test"
expect 401 "/v1/test after logout" -b cookies.txt "$BASE/v1/test"
expect 404 "unknown route" "$BASE/v1/nope"
expect 405 "wrong method" -X PUT "$BASE/v1/test"

# The stored user has a hash and no password.
doc=$(curl -fsS "$ES_URL/${PREFIX}users/_doc/smoke@example.com")
echo "$doc" | grep -q '"password_hash":"\$argon2id\$v=19\$m=19456,t=2,p=1\$' || fail "stored user lacks an OWASP argon2id hash"
if echo "$doc" | grep -q 'correct horse battery'; then fail "the password is stored in Elasticsearch"; fi
if grep -q -e 'horse battery' -e 'argon2id' "$WORK/server.log"; then fail "the server log carries a secret"; fi
echo "smoke: ok   stored user has only an argon2id hash; log has no secret"
passed=$((passed + 1))

echo "smoke: $passed passed, 0 failed"
