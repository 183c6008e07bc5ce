#!/bin/sh
# make run: create var/ with a demo SQLite database on first use, then start
# `stampd serve` on 127.0.0.1:8080 and show how to buy a stamp.
set -eu

build=${1:-build/release}
top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var"
db="sqlite:$var/stampd.db"
listen=${STAMPD_LISTEN:-127.0.0.1:8080}

mkdir -p "$var"
if [ ! -f "$var/stampd.db" ]; then
    "$top/$build/stampd" init --db "$db" --license PV1000001 --psds 4 --deposit 10000 --demo \
        > "$var/demo.env"
    chmod 600 "$var/demo.env"
fi
# A database from an older stampd gets this binary's schema first.
"$top/$build/stampd" migrate --db "$db" 2>/dev/null || true
. "$var/demo.env"

url="http://$listen"
cat <<MSG

stampd demo — $url   (database: var/stampd.db; delete var/ to start over)

  web UI:  open $url/ and log in as demo@stampd.test / stampd-demo-password
           (operators: "Operator login", operator@stampd.test, same password;
           the postal authority: "Postal authority", Demo postal authority, same password)

  demo customer key:  STAMP_KEY=$STAMP_KEY   (balance \$100)
  demo operator key:  STAMP_OPERATOR_KEY=$STAMP_OPERATOR_KEY
  postal authority:   STAMP_POSTAL_KEY=${STAMP_POSTAL_KEY:-"(none: this var/ predates it; stampd authority create)"}

Buy a stamp with curl:
  curl -s -X POST $url/v1/indicia -H "Authorization: Bearer $STAMP_KEY" -H "Idempotency-Key: \$(date +%s%N)" -H 'Content-Type: application/json' -d '{"mail_class":"first_class_letter","weight_oz":1,"from_zip":"94107","to_zip":"10001"}'

Buy a stamp with the stamp CLI:
  STAMP_SERVER=$url STAMP_KEY=$STAMP_KEY $build/stamp buy --class first_class_letter --weight 1 --from 94107 --to 10001

Press Ctrl-C to stop.
MSG
exec "$top/$build/stampd" serve --db "$db" --listen "$listen"
