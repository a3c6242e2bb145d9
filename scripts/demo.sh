#!/usr/bin/env bash
# Migrate, seed, create the admin login, then run the web server and a django-q2 cluster
# together in the foreground: one Ctrl-C (or either process dying) stops both.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBUG="${DEBUG:-true}"
ADDRESS="${DEMO_ADDRESS:-127.0.0.1:8000}"
PY=.venv/bin/python

$PY manage.py migrate --noinput
$PY manage.py seed_demo
LOGIN="$($PY manage.py demo_admin)"

pids=()
stop() {
  trap - INT TERM EXIT
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

$PY manage.py qcluster &
pids+=($!)
$PY manage.py runserver "$ADDRESS" &
pids+=($!)

cat <<BANNER

  Tandem demo is starting on http://$ADDRESS/admin/
  $LOGIN
  Task queue: django-q2 cluster running (admin: Task queue). Ctrl-C stops everything.

BANNER
wait -n
