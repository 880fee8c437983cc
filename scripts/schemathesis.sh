#!/usr/bin/env bash
# Runs Schemathesis (from PyPI) against /v1/openapi.json of a live esauth on
# a real Elasticsearch: every response must be a non-5xx, documented status
# with the documented content type and schema. Two passes: anonymous, then
# logged in as an admin (without the logout operations and the revocation of
# one session, which would end the session mid-run: the stateful phase
# finds the current session's id in GET /v1/auth/sessions and revokes it). ST_EXAMPLES bounds the examples per operation (default 50).
set -euo pipefail

ST_VERSION="${ST_VERSION:-4.32.5}"
ST_EXAMPLES="${ST_EXAMPLES:-50}"
if [ "$(id -u)" = 0 ]; then CACHE="${ESAUTH_CACHE:-/var/cache/esauth}"; else CACHE="${ESAUTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/esauth}"; fi
VENV="$CACHE/schemathesis-$ST_VERSION"
NAME=st
source "$(dirname "$0")/serve-lib.sh"

if [ ! -x "$VENV/bin/st" ]; then
  echo "schemathesis: installing schemathesis==$ST_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$ST_VERSION"
fi

# The rate limits and lockout are tested elsewhere; here they would only
# turn most answers into 429s.
export ESAUTH_LOGIN_RATE=1000000 ESAUTH_LOGIN_BURST=1000000 ESAUTH_SIGNUP_RATE=1000000 ESAUTH_SIGNUP_BURST=1000000
export ESAUTH_LOCKOUT_THRESHOLD=0 ESAUTH_LOG_LEVEL=warn ESAUTH_COOKIE_SECURE=false
# Passkeys on, so their routes answer as in production (no generated
# credential verifies; the origin only matters to a real one).
export ESAUTH_WEBAUTHN_RP_ID=localhost ESAUTH_WEBAUTHN_ORIGINS=http://localhost:8000
serve_start
export ELASTICSEARCH_URL="$ES_URL" ESAUTH_INDEX_PREFIX="$PREFIX" # for "esauth user create"

printf '%s\n' 'schemathesis admin pw 1' | "$WORK/esauth" user create --email st-admin@example.com --first-name St --last-name Admin --admin >/dev/null
curl -fsS -c "$WORK/cookies.txt" -X POST "$BASE/v1/auth/login" -H 'Content-Type: application/json' \
  -d '{"email_address":"st-admin@example.com","password":"schemathesis admin pw 1"}' >/dev/null
COOKIE="$(awk '$6 == "session" {print $7}' "$WORK/cookies.txt")"
[ -n "$COOKIE" ] || { echo "schemathesis: could not log in" >&2; exit 1; }

# positive_data_acceptance is left out: the server's rules (net/mail parsing,
# the common-password list, the email-name rule) cannot be written in JSON
# Schema, so schema-valid bodies can rightly get 422.
COMMON=(--checks all --exclude-checks positive_data_acceptance -n "$ST_EXAMPLES" --seed "${ST_SEED:-1}"
        --generation-deterministic --no-color)
cd "$WORK"
status=0
# A request whose URL and headers are over 16 KiB is refused with 431
# before any parameter is read (httpkit.LimitHeaders): a refusal of the
# bad data like 400 or 422, which Schemathesis' own list leaves out.
cat >"$WORK/schemathesis-checks.toml" <<'TOML'
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "431", "5xx"]
TOML
echo "schemathesis: pass 1, anonymous"
"$VENV/bin/st" --config-file "$WORK/schemathesis-checks.toml" run "$BASE/v1/openapi.json" "${COMMON[@]}" || status=1
echo "schemathesis: pass 2, logged in as an admin"
# Auth through the schema's cookieAuth scheme (not a raw header), so the
# negative tests that drop the cookie really drop it.
cp "$WORK/schemathesis-checks.toml" "$WORK/schemathesis.toml"
cat >>"$WORK/schemathesis.toml" <<TOML
[auth.openapi.cookieAuth]
api_key = "$COOKIE"
TOML
"$VENV/bin/st" --config-file "$WORK/schemathesis.toml" run "$BASE/v1/openapi.json" "${COMMON[@]}" \
  --exclude-operation-id logout --exclude-operation-id logoutAll --exclude-operation-id revokeSession || status=1
if grep -q '"level":"error"' "$WORK/server.log"; then
  echo "schemathesis: the server logged errors:" >&2
  grep '"level":"error"' "$WORK/server.log" | head -5 >&2
  status=1
fi
exit $status
