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

# A real OpenID Provider on loopback (scripts/oidc-provider), for the
# login with a provider at the end.
OP_PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
OP="http://127.0.0.1:$OP_PORT"
(cd "$ROOT" && go build -o "$WORK/oidc-provider" ./scripts/oidc-provider)
"$WORK/oidc-provider" -addr "127.0.0.1:$OP_PORT" -redirect "$BASE/v1/auth/oauth/local/callback" 2>"$WORK/op.log" &
OP_PID=$!
trap 'kill $OP_PID 2>/dev/null || true; serve_cleanup' EXIT
for _ in $(seq 1 100); do curl -fsS -o /dev/null "$OP/.well-known/openid-configuration" 2>/dev/null && break; sleep 0.1; done

echo "smoke: building and starting esauth"
export ESAUTH_PUBLIC_URL="$BASE" ESAUTH_OAUTH_PROVIDERS=local ESAUTH_OAUTH_LOCAL_ISSUER="$OP" \
  ESAUTH_OAUTH_LOCAL_CLIENT_ID=esauth-smoke ESAUTH_OAUTH_LOCAL_CLIENT_SECRET=esauth-smoke-secret
# Recovery requests share the signup's per-IP budget, and logins the login's; this test makes more than their default bursts.
ESAUTH_COOKIE_SECURE=false ESAUTH_SIGNUP_BURST=20 ESAUTH_LOGIN_BURST=20 serve_start

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
# A native client: the session as a bearer token, no cookie.
expect 200 "login asking for a token" -D token-headers.txt -X POST "$BASE/v1/auth/login" "${J[@]}" \
  -d '{"email_address":"smoke@example.com","password":"another horse battery","token":true}'
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["session_token"])' "$WORK/body") || fail "no session_token: $(cat "$WORK/body")"
if grep -qi '^set-cookie:' token-headers.txt; then fail "a token login set a cookie"; fi
expect 200 "/v1/test with the bearer token" -H "Authorization: Bearer $TOKEN" "$BASE/v1/test"
expect 400 "the token in the query string" "$BASE/v1/test?access_token=$TOKEN"
expect 200 "logout with the bearer token" -H "Authorization: Bearer $TOKEN" -X POST "$BASE/v1/auth/logout"
expect 401 "the bearer token after logout" -H "Authorization: Bearer $TOKEN" "$BASE/v1/test"
if grep -q -F -e "$TOKEN" "$WORK/server.log"; then fail "the server log carries the bearer token"; fi
expect 404 "unknown route" "$BASE/v1/nope"
expect 405 "wrong method" -X PUT "$BASE/v1/test"

# Log in with the provider as a browser would: esauth → provider's login
# page → form → back to esauth's callback → session cookie.
redirect_of() { curl -sS -o /dev/null -w '%{http_code} %{redirect_url}\n' "$@"; }
read -r code auth_url < <(redirect_of -c browser.txt "$BASE/v1/auth/oauth/local?return_to=/welcome")
[ "$code" = 302 ] && [[ "$auth_url" == "$OP/"* ]] || fail "start a provider login: $code to $auth_url"
login_page=$(curl -sS -L -c op.txt -b op.txt -o /dev/null -w '%{url_effective}' "$auth_url")
request_id=$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["authRequestID"][0])' "$login_page") ||
  fail "the provider showed no login page: $login_page"
read -r code next < <(redirect_of -b op.txt -c op.txt --data-urlencode "id=$request_id" --data-urlencode username=smoke \
  --data-urlencode password=provider-password-1 "$OP/login/username")
[ "$code" = 302 ] || fail "log in at the provider: $code"
read -r code callback < <(redirect_of -b op.txt -c op.txt "$next")
[[ "$callback" == "$BASE/v1/auth/oauth/local/callback?"* ]] || fail "the provider did not send the browser back: $code to $callback"
read -r code landing < <(redirect_of -b browser.txt -c browser.txt "$callback")
[ "$code" = 302 ] && [ "$landing" = "$BASE/welcome" ] || fail "the callback: $code to $landing"
echo "smoke: ok   302 log in with an OpenID Connect provider, back to return_to"
passed=$((passed + 1))
expect 200 "/v1/test with the provider login's cookie" -b browser.txt "$BASE/v1/test"
grep -q oidc-smoke@example.com "$WORK/body" || fail "/v1/test is not the provider's user: $(cat "$WORK/body")"
expect 200 "the linked identity" -b browser.txt "$BASE/v1/auth/identities"
# Replayed: a browser has dropped the used-up state cookie (state_missing);
# curl 7.88 keeps it in its jar despite Max-Age=0, and then the state's
# server-side record is spent already (state_used). Either way, nobody is
# logged in.
read -r code landing < <(redirect_of -b browser.txt "$callback")
case "$landing" in
"$BASE/?error=state_missing" | "$BASE/?error=state_used") ;;
*) fail "a replayed callback: $code to $landing" ;;
esac
echo "smoke: ok   302 a replayed callback is refused"
oauth_code=$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["code"][0])' "$callback")
if grep -q -F -e "$oauth_code" -e "esauth-smoke-secret" "$WORK/server.log"; then fail "the server log carries the provider's code or the client secret"; fi
passed=$((passed + 1))

# Mail without a mail server: the links go to the server's log
# (development), where this test picks them up.
link_in_log() { # PATH: the token of the newest link to PATH in the log
  local tok=""
  for _ in $(seq 1 100); do
    tok=$(grep -o "$1?token=[A-Za-z0-9_-]*" "$WORK/server.log" | tail -n 1 | sed 's/.*token=//') || true
    [ -n "$tok" ] && break
    sleep 0.1
  done
  [ -n "$tok" ] || fail "no $1 link in the server log"
  echo "$tok"
}
tok=$(link_in_log /verify-email)
expect 200 "verify the address with the mailed link" -X POST "$BASE/v1/auth/verification" "${J[@]}" -d "{\"token\":\"$tok\"}"
expect 422 "the same link again" -X POST "$BASE/v1/auth/verification" "${J[@]}" -d "{\"token\":\"$tok\"}"
expect 202 "ask for a recovery link" -X POST "$BASE/v1/auth/recovery" "${J[@]}" -d '{"email_address":"smoke@example.com"}'
cp "$WORK/body" recovery-known.json
expect 202 "ask for one for an unknown address" -X POST "$BASE/v1/auth/recovery" "${J[@]}" -d '{"email_address":"nobody@example.com"}'
cmp -s recovery-known.json "$WORK/body" || fail "recovery answers differ for an unknown address"
tok=$(link_in_log /reset-password)
expect 200 "set a new password with the link (logged in)" -c recovered.txt -X POST "$BASE/v1/auth/recovery/complete" "${J[@]}" \
  -d "{\"token\":\"$tok\",\"new_password\":\"a recovered horse battery\"}"
expect 200 "/v1/test after the recovery" -b recovered.txt "$BASE/v1/test"

# TOTP: enrol, confirm with a code (computed here from the secret, as an
# authenticator app would), then a login that owes its code.
totp_code() { # SECRET OFFSET_STEPS
  python3 -c 'import sys,time,hmac,hashlib,base64,struct
s=sys.argv[1]; k=base64.b32decode(s+"="*(-len(s)%8)); c=int(time.time())//30+int(sys.argv[2])
h=hmac.new(k,struct.pack(">Q",c),hashlib.sha1).digest(); o=h[-1]&15
print("%06d"%((struct.unpack(">I",h[o:o+4])[0]&0x7fffffff)%1000000))' "$1" "$2"
}
expect 200 "enrol TOTP" -b recovered.txt -X POST "$BASE/v1/auth/totp/enroll" "${J[@]}" -d '{"password":"a recovered horse battery"}'
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["secret"])' "$WORK/body")
expect 200 "confirm TOTP (recovery codes)" -b recovered.txt -X POST "$BASE/v1/auth/totp/confirm" "${J[@]}" -d "{\"code\":\"$(totp_code "$secret" 0)\"}"
grep -q recovery_codes "$WORK/body" || fail "no recovery codes"
expect 200 "login owes its code" -c twofa.txt -X POST "$BASE/v1/auth/login" "${J[@]}" -d '{"email_address":"smoke@example.com","password":"a recovered horse battery"}'
grep -q '"second_factor_required":true' "$WORK/body" || fail "the login did not ask for the code"
expect 401 "the half-authenticated session reaches nothing" -b twofa.txt "$BASE/v1/test"
expect 200 "the code of the next step" -b twofa.txt -c twofa.txt -X POST "$BASE/v1/auth/totp/verify" "${J[@]}" -d "{\"code\":\"$(totp_code "$secret" 1)\"}"
expect 200 "/v1/test after the second factor" -b twofa.txt "$BASE/v1/test"

# The stored user has a hash and no password.
doc=$(curl -fsS "$ES_URL/${PREFIX}users/_doc/smoke@example.com")
echo "$doc" | grep -q '"password_hash":"\$argon2id\$v=19\$m=19456,t=2,p=1\$' || fail "stored user lacks an OWASP argon2id hash"
if echo "$doc" | grep -q -e 'correct horse battery' -e 'a recovered horse battery'; then fail "the password is stored in Elasticsearch"; fi
if grep -q -e 'horse battery' -e 'argon2id' -e "$secret" "$WORK/server.log"; then fail "the server log carries a secret"; fi
echo "smoke: ok   stored user has only an argon2id hash; log has no secret"
passed=$((passed + 1))

echo "smoke: $passed passed, 0 failed"
