#!/usr/bin/env bash
# Migrate, seed, create the admin login, then run the web server and a django-q2 cluster
# together in the foreground: one Ctrl-C (or either process dying) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG="${DEBUG:-true}"
# An hour of journey time passes in a minute (waits, engagement windows); 1 = real time.
export JOURNEY_TIME_SCALE="${JOURNEY_TIME_SCALE:-60}"
ADDRESS="${DEMO_ADDRESS:-127.0.0.1:8000}"
PY=.venv/bin/python
# Links in messages (unsubscribe, preferences, /l/ short links) point at this server.
export PUBLIC_BASE_URL="${PUBLIC_BASE_URL:-http://$ADDRESS}"
# Console SMS: Twilio calls nobody, so `twilio_simulate` plays its part, signing with a
# token made for this run (never a real credential; one from the environment or .env wins).
if [ -z "${TWILIO_AUTH_TOKEN:-}" ] && ! grep -qs '^TWILIO_AUTH_TOKEN=.' .env; then
  TWILIO_AUTH_TOKEN="demo-$($PY -c 'import secrets; print(secrets.token_hex(16))')"
  export TWILIO_AUTH_TOKEN
fi

$PY manage.py migrate --noinput
$PY manage.py seed_demo
$PY manage.py setup_schedules >/dev/null
$PY manage.py install_journey_templates >/dev/null
LOGIN="$($PY manage.py demo_admin)"
TOKEN="$($PY manage.py create_api_token "demo shop" 2>/dev/null)"

pids=()
stop() {
  trap - INT TERM EXIT HUP
  kill -TERM "${pids[@]}" 2>/dev/null || true
  # django-q2 finishes running tasks on TERM; give it 10 s, then make sure.
  for _ in $(seq 20); do
    kill -0 "${pids[@]}" 2>/dev/null || break
    sleep 0.5
  done
  pkill -KILL -P "$(IFS=,; echo "${pids[*]}")" 2>/dev/null || true
  kill -KILL "${pids[@]}" 2>/dev/null || true
}
trap stop INT TERM EXIT HUP

$PY manage.py qcluster &
pids+=($!)
$PY manage.py runserver "$ADDRESS" &
pids+=($!)

cat <<BANNER

  Tandem demo is starting on http://$ADDRESS/admin/
  $LOGIN
  Task queue: django-q2 cluster running (admin: Task queue). Ctrl-C stops everything.
  Journeys run $JOURNEY_TIME_SCALE times faster than real time (JOURNEY_TIME_SCALE).
  API token for this run: $TOKEN
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
      -d '{"userId":"demo-star","event":"Checkout Started","properties":{"product":"Blue mug"}}' \
      http://$ADDRESS/api/v1/track
  Play Twilio (signed requests, as Twilio sends them): after a test send of an SMS template,
    export TWILIO_AUTH_TOKEN=$TWILIO_AUTH_TOKEN PUBLIC_BASE_URL=$PUBLIC_BASE_URL
    $PY manage.py twilio_simulate status MESSAGE_ID delivered
    $PY manage.py twilio_simulate inbound +12125550199 STOP
  Try an import: $PY manage.py import_demo_file /tmp/customers.csv --rows 100000
  then Profiles > Import a large file (README: "Importing a list").

BANNER
wait -n
