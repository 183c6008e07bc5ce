/*
 * migrations_shop.c - the migrations of issue 17, what shops and integrators
 * expect (v15-v19; schema_ddl.h): the medium position, rate tables, purchase
 * metadata, bulk batches and webhooks. Apart from migrations.c only to keep
 * each file readable; pv_schema_migrations (migrations.c) lists them in
 * order. Never edit a released migration; add the next one.
 */
#include "store/schema_ddl.h"

/*
 * v15: the medium position (issue 17): a piece bought on a medium records
 * its sheet's serial and its label number on the sheet, in the purchase's
 * own insert, so a reprint places it on that label (docs/media.md). Pieces
 * from before keep '' and 0: their signed label serial still says where.
 */
const struct ddl pv_migration_v15[] = {
    {ALL, "ALTER TABLE indicia ADD COLUMN medium_sheet TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE indicia ADD COLUMN medium_label INTEGER NOT NULL DEFAULT 0"},
    {0, NULL},
};

/*
 * v16: rate tables as data (issue 17, docs/rates.md): every loaded table's
 * document, one per version and per effective date; and a piece's priced
 * options with its price broken down and the table that priced it.
 */
const struct ddl pv_migration_v16[] = {
    {ALL, "CREATE TABLE rate_tables (\n"
          "    version   TEXT PRIMARY KEY,\n"
          "    effective {BIG} NOT NULL UNIQUE CHECK (effective BETWEEN 19700101 AND 99991231),\n"
          "    source    TEXT NOT NULL,\n"
          "    body      TEXT NOT NULL,\n"
          "    loaded_at {BIG} NOT NULL,\n"
          "    loaded_by TEXT NOT NULL\n"
          ")"},
    {ALL, "ALTER TABLE indicia ADD COLUMN services INTEGER NOT NULL DEFAULT 0"},
    {ALL, "ALTER TABLE indicia ADD COLUMN zone INTEGER NOT NULL DEFAULT 0"},
    {ALL, "ALTER TABLE indicia ADD COLUMN rate_version TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE indicia ADD COLUMN surcharge_mills {BIG} NOT NULL DEFAULT 0"},
    {ALL, "ALTER TABLE indicia ADD COLUMN certified_mills {BIG} NOT NULL DEFAULT 0"},
    {ALL, "ALTER TABLE indicia ADD COLUMN return_receipt_mills {BIG} NOT NULL DEFAULT 0"},
    {0, NULL},
};

/*
 * v17: a purchase's metadata (issue 17): the buyer's small string map,
 * kept with the piece ("key=value" lines, domain/metadata.h) and, one row
 * per pair, in indicium_metadata, whose index answers
 * GET /v1/indicia?metadata[key]=value without reading every piece.
 */
const struct ddl pv_migration_v17[] = {
    {ALL, "ALTER TABLE indicia ADD COLUMN metadata TEXT NOT NULL DEFAULT ''"},
    {ALL, "CREATE TABLE indicium_metadata (\n"
          "    owner       TEXT NOT NULL,\n"
          "    mkey        TEXT NOT NULL,\n"
          "    mvalue      TEXT NOT NULL,\n"
          "    mseq        {BIG} NOT NULL,\n"
          "    indicium_id TEXT NOT NULL REFERENCES indicia(id),\n"
          "    PRIMARY KEY (indicium_id, mkey)\n"
          ")"},
    /* mseq is the piece's seq: the pairs come newest first, a page at a time. */
    {ALL, "CREATE INDEX indicium_metadata_lookup ON indicium_metadata(owner, mkey, mvalue, mseq)"},
    {0, NULL},
};

/*
 * v18: bulk buying (issue 17; domain/batch.c): a batch of purchases under
 * one Idempotency-Key, and one row per item with its outcome - pending,
 * bought (the indicium) or failed (the error) - so a batch interrupted by
 * a restart still reports what it bought and can be resumed.
 */
const struct ddl pv_migration_v18[] = {
    {ALL, "CREATE TABLE buy_batches (\n"
          "    seq         {SERIAL} PRIMARY KEY{AUTOINC},\n"
          "    id          TEXT NOT NULL UNIQUE,\n"
          "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
          "    test        INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
          "    idem_key    TEXT NOT NULL,\n"
          "    req_hash    TEXT NOT NULL,\n"
          "    items       INTEGER NOT NULL CHECK (items BETWEEN 1 AND 1000),\n"
          "    created     {BIG} NOT NULL,\n"
          "    updated     {BIG} NOT NULL,\n"
          "    completed   {BIG} NOT NULL DEFAULT 0,\n"
          "    UNIQUE (customer_id, test, idem_key)\n"
          ")"},
    {ALL, "CREATE TABLE buy_batch_items (\n"
          "    batch_id      TEXT NOT NULL REFERENCES buy_batches(id),\n"
          "    n             INTEGER NOT NULL,\n"
          "    reference     TEXT NOT NULL,\n"
          "    status        INTEGER NOT NULL CHECK (status IN (0, 1, 2)),\n"
          "    indicium_id   TEXT NOT NULL DEFAULT '',\n"
          "    postage_mills {BIG} NOT NULL DEFAULT 0,\n"
          "    error_code    TEXT NOT NULL DEFAULT '',\n"
          "    error_field   TEXT NOT NULL DEFAULT '',\n"
          "    error_message TEXT NOT NULL DEFAULT '',\n"
          "    updated       {BIG} NOT NULL,\n"
          "    PRIMARY KEY (batch_id, n),\n"
          "    UNIQUE (batch_id, reference)\n"
          ")"},
    {0, NULL},
};

/*
 * v19: webhooks (issue 17, docs/webhooks.md): a customer's endpoints with
 * their signing secrets, the events of accounts that subscribed (the
 * outbox, written in the transaction of what they report), one delivery
 * per event and endpoint with its retry state and lease, and the log of
 * every attempt.
 */
const struct ddl pv_migration_v19[] = {
    {ALL, "CREATE TABLE webhook_endpoints (\n"
          "    seq         {SERIAL} PRIMARY KEY{AUTOINC},\n"
          "    id          TEXT NOT NULL UNIQUE,\n"
          "    owner_id    TEXT NOT NULL,\n"
          "    test        INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
          "    url         TEXT NOT NULL,\n"
          "    description TEXT NOT NULL DEFAULT '',\n"
          "    events      TEXT NOT NULL,\n"
          "    enabled     INTEGER NOT NULL CHECK (enabled IN (0, 1)),\n"
          "    secret      TEXT NOT NULL,\n"
          "    created     {BIG} NOT NULL,\n"
          "    updated     {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX webhook_endpoints_owner ON webhook_endpoints(owner_id, test)"},
    {ALL, "CREATE TABLE webhook_events (\n"
          "    seq      {SERIAL} PRIMARY KEY{AUTOINC},\n"
          "    id       TEXT NOT NULL UNIQUE,\n"
          "    owner_id TEXT NOT NULL,\n"
          "    test     INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
          "    type     TEXT NOT NULL,\n"
          "    created  {BIG} NOT NULL,\n"
          "    data     TEXT NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX webhook_events_owner ON webhook_events(owner_id, test, seq)"},
    {ALL, "CREATE TABLE webhook_deliveries (\n"
          "    seq          {SERIAL} PRIMARY KEY{AUTOINC},\n"
          "    event_id     TEXT NOT NULL REFERENCES webhook_events(id),\n"
          "    endpoint_id  TEXT NOT NULL,\n"
          "    status       INTEGER NOT NULL CHECK (status IN (0, 1, 2)),\n"
          "    attempts     INTEGER NOT NULL DEFAULT 0,\n"
          "    first_at     {BIG} NOT NULL,\n"
          "    next_at      {BIG} NOT NULL,\n"
          "    lease_holder TEXT NOT NULL DEFAULT '',\n"
          "    lease_until  {BIG} NOT NULL DEFAULT 0,\n"
          "    last_code    INTEGER NOT NULL DEFAULT 0,\n"
          "    last_error   TEXT NOT NULL DEFAULT '',\n"
          "    updated      {BIG} NOT NULL,\n"
          "    UNIQUE (event_id, endpoint_id)\n"
          ")"},
    {ALL, "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(next_at) WHERE status = 0"},
    {ALL, "CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries(endpoint_id, seq)"},
    {ALL, "CREATE TABLE webhook_attempts (\n"
          "    seq          {SERIAL} PRIMARY KEY{AUTOINC},\n"
          "    delivery_seq {BIG} NOT NULL,\n"
          "    endpoint_id  TEXT NOT NULL,\n"
          "    event_id     TEXT NOT NULL,\n"
          "    attempt      INTEGER NOT NULL,\n"
          "    at           {BIG} NOT NULL,\n"
          "    status_code  INTEGER NOT NULL,\n"
          "    latency_ms   {BIG} NOT NULL,\n"
          "    outcome      INTEGER NOT NULL,\n"
          "    error        TEXT NOT NULL DEFAULT '',\n"
          "    response     TEXT NOT NULL DEFAULT ''\n"
          ")"},
    {ALL, "CREATE INDEX webhook_attempts_endpoint ON webhook_attempts(endpoint_id, seq)"},
    {0, NULL},
};
