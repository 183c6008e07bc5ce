/*
 * migrations.c - every migration of the schema, in order (schema_ddl.h):
 * pv_schema_migrations[i] takes it from version i to i + 1. schema.c says
 * how they are written and applies them. Never edit a released migration;
 * add the next one.
 */
#include "store/schema_ddl.h"

static const struct ddl migration_v1[] = {
    {ALL, "CREATE TABLE schema_version (\n"
          "    version    {BIG} PRIMARY KEY,\n"
          "    applied_at {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE TABLE config (\n"
          "    key   TEXT PRIMARY KEY,\n"
          "    value TEXT NOT NULL\n"
          ")"},
    {ALL, "CREATE TABLE accounts (\n"
          "    name          TEXT PRIMARY KEY,\n"
          "    balance_mills {BIG} NOT NULL CONSTRAINT balance_range\n"
          "        CHECK (balance_mills BETWEEN -" MILLS_MAX_SQL " AND " MILLS_MAX_SQL ")\n"
          ")"},
    {ALL, "CREATE TABLE journals (\n"
          "    id   {SERIAL} PRIMARY KEY,\n"
          "    kind TEXT NOT NULL,\n"
          "    ref  TEXT,\n"
          "    at   {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX journals_ref ON journals(ref)"},
    {ALL, "CREATE TABLE journal_lines (\n"
          "    journal_id   {BIG} NOT NULL REFERENCES journals(id),\n"
          "    line         INTEGER NOT NULL,\n"
          "    account      TEXT NOT NULL REFERENCES accounts(name),\n"
          "    amount_mills {BIG} NOT NULL\n"
          "        CHECK (amount_mills BETWEEN -" MILLS_MAX_SQL " AND " MILLS_MAX_SQL "),\n"
          "    PRIMARY KEY (journal_id, line)\n"
          ")"},
    {ALL, "CREATE INDEX journal_lines_account ON journal_lines(account, journal_id)"},
    {ALL,
     "CREATE TABLE psds (\n"
     "    id             {BIG} PRIMARY KEY CHECK (id BETWEEN 1 AND " U32_MAX_SQL "),\n"
     "    status         INTEGER NOT NULL CHECK (status IN (0, 1, 2)),\n"
     "    key_id         {BIG} NOT NULL CHECK (key_id BETWEEN 0 AND " U32_MAX_SQL "),\n"
     "    descending     {BIG} NOT NULL CHECK (descending >= 0),\n"
     "    ascending      {BIG} NOT NULL CHECK (ascending >= 0),\n"
     "    control_total  {BIG} NOT NULL CHECK (control_total BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
     "    piece_count    {BIG} NOT NULL CHECK (piece_count BETWEEN 0 AND " U32_MAX_SQL "),\n"
     "    last_refill_at {BIG} NOT NULL DEFAULT 0,\n"
     "    CONSTRAINT registers CHECK (ascending + descending = control_total)\n"
     ")"},
    {PG, "CREATE FUNCTION psds_refuse_move_back() RETURNS trigger LANGUAGE plpgsql AS $$\n"
         "BEGIN\n"
         "    RAISE EXCEPTION 'psd registers may not move back';\n"
         "END\n"
         "$$"},
    {SQLITE, "CREATE TRIGGER psds_monotonic BEFORE UPDATE ON psds\n"
             "WHEN NEW.ascending < OLD.ascending OR NEW.control_total < OLD.control_total\n"
             "     OR NEW.piece_count < OLD.piece_count\n"
             "BEGIN SELECT RAISE(ABORT, 'psd registers may not move back'); END"},
    {PG, "CREATE TRIGGER psds_monotonic BEFORE UPDATE ON psds FOR EACH ROW\n"
         "WHEN (NEW.ascending < OLD.ascending OR NEW.control_total < OLD.control_total\n"
         "      OR NEW.piece_count < OLD.piece_count)\n"
         "EXECUTE FUNCTION psds_refuse_move_back()"},
    {ALL, "CREATE TABLE refills (\n"
          "    id                {SERIAL} PRIMARY KEY,\n"
          "    psd_id            {BIG} NOT NULL REFERENCES psds(id),\n"
          "    amount_mills      {BIG} NOT NULL CHECK (amount_mills > 0),\n"
          "    desc_before       {BIG} NOT NULL,\n"
          "    asc_before        {BIG} NOT NULL,\n"
          "    ctl_before        {BIG} NOT NULL,\n"
          "    desc_after        {BIG} NOT NULL,\n"
          "    asc_after         {BIG} NOT NULL,\n"
          "    ctl_after         {BIG} NOT NULL,\n"
          "    authorization_ref TEXT NOT NULL,\n"
          "    at                {BIG} NOT NULL,\n"
          "    CHECK (asc_before + desc_before = ctl_before),\n"
          "    CHECK (asc_after + desc_after = ctl_after),\n"
          "    CHECK (ctl_after = ctl_before + amount_mills)\n"
          ")"},
    {ALL, "CREATE INDEX refills_psd ON refills(psd_id, at)"},
    {ALL, "CREATE TABLE keys (\n"
          "    key_id     {BIG} PRIMARY KEY CHECK (key_id BETWEEN 0 AND " U32_MAX_SQL "),\n"
          "    psd_id     {BIG} NOT NULL,\n"
          "    algorithm  TEXT NOT NULL,\n"
          "    module     TEXT NOT NULL,\n"
          "    key_ref    TEXT NOT NULL,\n"
          "    public_pem TEXT NOT NULL,\n"
          "    created    {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE TABLE customers (\n"
          "    id      TEXT PRIMARY KEY,\n"
          "    email   TEXT NOT NULL{NOCASE},\n"
          "    created {BIG} NOT NULL\n"
          ")"},
    {PG, "CREATE UNIQUE INDEX customers_email ON customers(lower(email))"},
    {ALL, "CREATE TABLE operators (\n"
          "    id      TEXT PRIMARY KEY,\n"
          "    email   TEXT NOT NULL{NOCASE},\n"
          "    created {BIG} NOT NULL\n"
          ")"},
    {PG, "CREATE UNIQUE INDEX operators_email ON operators(lower(email))"},
    {ALL, "CREATE TABLE api_keys (\n"
          "    id         TEXT PRIMARY KEY,\n"
          "    hash       TEXT NOT NULL UNIQUE,\n"
          "    prefix     TEXT NOT NULL,\n"
          "    role       INTEGER NOT NULL CHECK (role IN (1, 2)),\n"
          "    owner_id   TEXT NOT NULL,\n"
          "    created    {BIG} NOT NULL,\n"
          "    revoked_at {BIG}\n"
          ")"},
    {ALL, "CREATE INDEX api_keys_owner ON api_keys(owner_id)"},
    {ALL, "CREATE TABLE idempotency (\n"
          "    owner_id    TEXT NOT NULL,\n"
          "    key         TEXT NOT NULL,\n"
          "    req_hash    TEXT NOT NULL,\n"
          "    indicium_id TEXT NOT NULL,\n"
          "    created     {BIG} NOT NULL,\n"
          "    PRIMARY KEY (owner_id, key)\n"
          "){NOROWID}"},
    {ALL,
     "CREATE TABLE indicia (\n"
     "    seq               {SERIAL} PRIMARY KEY{AUTOINC},\n"
     "    id                TEXT NOT NULL UNIQUE,\n"
     "    customer_id       TEXT NOT NULL REFERENCES customers(id),\n"
     "    server_id         TEXT NOT NULL,\n"
     "    psd_id            {BIG} NOT NULL REFERENCES psds(id),\n"
     "    key_id            {BIG} NOT NULL REFERENCES keys(key_id),\n"
     "    serial            {BIG} NOT NULL CHECK (serial BETWEEN 0 AND " U32_MAX_SQL "),\n"
     "    version           INTEGER NOT NULL,\n"
     "    sig_alg           INTEGER NOT NULL,\n"
     "    flags             INTEGER NOT NULL,\n"
     "    license           TEXT NOT NULL,\n"
     "    ascending_mills   {BIG} NOT NULL CHECK (ascending_mills >= 0),\n"
     "    postage_mills     {BIG} NOT NULL CHECK (postage_mills BETWEEN 0 AND " U32_MAX_SQL "),\n"
     "    mail_date         {BIG} NOT NULL,\n"
     "    mail_class        INTEGER NOT NULL,\n"
     "    weight_tenth_oz   INTEGER NOT NULL,\n"
     "    from_zip          TEXT NOT NULL,\n"
     "    to_zip            TEXT NOT NULL,\n"
     "    software_id       TEXT NOT NULL,\n"
     "    medium_serial     TEXT NOT NULL,\n"
     "    data              {BLOB} NOT NULL,\n"
     "    created           {BIG} NOT NULL,\n"
     "    presentations     {BIG} NOT NULL DEFAULT 0,\n"
     "    last_presented_at {BIG},\n"
     "    UNIQUE (psd_id, serial)\n"
     ")"},
    {ALL, "CREATE INDEX indicia_customer ON indicia(customer_id, seq)"},
    {0, NULL},
};

static const struct ddl migration_v2[] = {
    {ALL, "ALTER TABLE indicia ADD COLUMN prints {BIG} NOT NULL DEFAULT 0 CHECK (prints >= 0)"},
    {ALL, "ALTER TABLE indicia ADD COLUMN from_address TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE indicia ADD COLUMN to_address TEXT NOT NULL DEFAULT ''"},
    {ALL, "CREATE TABLE renders (\n"
          "    id          {SERIAL} PRIMARY KEY,\n"
          "    indicium_id TEXT NOT NULL REFERENCES indicia(id),\n"
          "    actor_id    TEXT NOT NULL,\n"
          "    format      TEXT NOT NULL,\n"
          "    layout      TEXT NOT NULL,\n"
          "    at          {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX renders_indicium ON renders(indicium_id, at)"},
    {ALL, "CREATE TABLE printers (\n"
          "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
          "    name        TEXT NOT NULL,\n"
          "    offset_x    INTEGER NOT NULL CHECK (offset_x BETWEEN -1000 AND 1000),\n"
          "    offset_y    INTEGER NOT NULL CHECK (offset_y BETWEEN -1000 AND 1000),\n"
          "    updated     {BIG} NOT NULL,\n"
          "    PRIMARY KEY (customer_id, name)\n"
          "){NOROWID}"},
    {0, NULL},
};

static const struct ddl migration_v3[] = {
    {ALL, "ALTER TABLE psds ADD COLUMN lease_holder TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE psds ADD COLUMN lease_expires {BIG} NOT NULL DEFAULT 0"},
    {ALL, "CREATE TABLE servers (\n"
          "    id            TEXT PRIMARY KEY,\n"
          "    address       TEXT NOT NULL,\n"
          "    crypto_module TEXT NOT NULL,\n"
          "    key_ids       TEXT NOT NULL,\n"
          "    status        INTEGER NOT NULL DEFAULT 0 CHECK (status IN (0, 1, 2)),\n"
          "    started_ms    {BIG} NOT NULL,\n"
          "    heartbeat_ms  {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE TABLE lease_log (\n"
          "    id          {SERIAL} PRIMARY KEY,\n"
          "    psd_id      {BIG} NOT NULL REFERENCES psds(id),\n"
          "    holder      TEXT NOT NULL,\n"
          "    acquired_ms {BIG} NOT NULL,\n"
          "    expires_ms  {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX lease_log_psd ON lease_log(psd_id, id)"},
    {ALL, "CREATE INDEX indicia_server ON indicia(created, server_id)"},
    {0, NULL},
};

static const struct ddl migration_v4[] = {
    {ALL, "ALTER TABLE psds ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))"},
    {ALL, "ALTER TABLE customers ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE operators ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE api_keys ADD COLUMN test INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1))"},
    {ALL, "ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE indicia ADD COLUMN refunded_at {BIG} NOT NULL DEFAULT 0"},
    {ALL, "CREATE TABLE sessions (\n"
          "    hash     TEXT PRIMARY KEY,\n"
          "    role     INTEGER NOT NULL CHECK (role IN (1, 2)),\n"
          "    owner_id TEXT NOT NULL,\n"
          "    csrf     TEXT NOT NULL,\n"
          "    created  {BIG} NOT NULL,\n"
          "    expires  {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE TABLE payment_methods (\n"
          "    id          TEXT PRIMARY KEY,\n"
          "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
          "    test        INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),\n"
          "    gateway_ref TEXT NOT NULL,\n"
          "    brand       TEXT NOT NULL,\n"
          "    last4       TEXT NOT NULL,\n"
          "    exp_month   INTEGER NOT NULL,\n"
          "    exp_year    INTEGER NOT NULL,\n"
          "    created     {BIG} NOT NULL,\n"
          "    deleted_at  {BIG}\n"
          ")"},
    {ALL, "CREATE INDEX payment_methods_customer ON payment_methods(customer_id)"},
    {ALL, "CREATE TABLE charges (\n"
          "    id                TEXT PRIMARY KEY,\n"
          "    customer_id       TEXT NOT NULL,\n"
          "    test              INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),\n"
          "    purpose           TEXT NOT NULL,\n"
          "    ref               TEXT NOT NULL,\n"
          "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
          "    brand             TEXT NOT NULL,\n"
          "    last4             TEXT NOT NULL,\n"
          "    amount_mills      {BIG} NOT NULL\n"
          "        CHECK (amount_mills > 0 AND amount_mills <= " MILLS_MAX_SQL "),\n"
          "    refunded_mills    {BIG} NOT NULL DEFAULT 0\n"
          "        CHECK (refunded_mills BETWEEN 0 AND amount_mills),\n"
          "    created           {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX charges_purpose_ref ON charges(purpose, ref)"},
    {ALL, "CREATE INDEX charges_customer ON charges(customer_id, purpose)"},
    {ALL,
     "CREATE TABLE auto_refill (\n"
     "    customer_id       TEXT NOT NULL,\n"
     "    test              INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
     "    enabled           INTEGER NOT NULL CHECK (enabled IN (0, 1)),\n"
     "    trigger_mills     {BIG} NOT NULL CHECK (trigger_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
     "    amount_mills      {BIG} NOT NULL CHECK (amount_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
     "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
     "    updated           {BIG} NOT NULL,\n"
     "    PRIMARY KEY (customer_id, test)\n"
     "){NOROWID}"},
    {ALL, "CREATE TABLE refunds (\n"
          "    id           TEXT PRIMARY KEY,\n"
          "    indicium_id  TEXT NOT NULL REFERENCES indicia(id),\n"
          "    customer_id  TEXT NOT NULL,\n"
          "    status       INTEGER NOT NULL CHECK (status IN (0, 1, 2)),\n"
          "    reason       TEXT NOT NULL DEFAULT '',\n"
          "    amount_mills {BIG} NOT NULL CHECK (amount_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
          "    destination  TEXT NOT NULL DEFAULT '',\n"
          "    requested_at {BIG} NOT NULL,\n"
          "    decided_at   {BIG} NOT NULL DEFAULT 0\n"
          ")"},
    {ALL, "CREATE INDEX refunds_indicium ON refunds(indicium_id, requested_at)"},
    {ALL, "CREATE UNIQUE INDEX refunds_one_approved ON refunds(indicium_id) WHERE status = 1"},
    {0, NULL},
};

static const struct ddl migration_v5[] = {
    {ALL, "CREATE TABLE media_keys (\n"
          "    key_id  {BIG} PRIMARY KEY CHECK (key_id BETWEEN 0 AND 15),\n"
          "    secret  {BLOB} NOT NULL CHECK (length(secret) = 32),\n"
          "    created {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE TABLE affiliates (\n"
          "    id               TEXT PRIMARY KEY,\n"
          "    name             TEXT NOT NULL,\n"
          "    customer_id      TEXT REFERENCES customers(id),\n"
          "    group_no         {BIG} NOT NULL UNIQUE CHECK (group_no BETWEEN 1 AND 4095),\n"
          "    threshold_labels {BIG} NOT NULL CHECK (threshold_labels >= 0),\n"
          "    target_days      {BIG} NOT NULL CHECK (target_days >= 0),\n"
          "    resupply_sheets  {BIG} NOT NULL CHECK (resupply_sheets BETWEEN 1 AND 65535),\n"
          "    created          {BIG} NOT NULL\n"
          ")"},
    {ALL,
     "CREATE TABLE media_batches (\n"
     "    batch            {BIG} PRIMARY KEY CHECK (batch BETWEEN 1 AND 262143),\n"
     "    product          {BIG} NOT NULL CHECK (product BETWEEN 0 AND 255),\n"
     "    group_no         {BIG} NOT NULL CHECK (group_no BETWEEN 0 AND 4095),\n"
     "    key_id           {BIG} NOT NULL REFERENCES media_keys(key_id),\n"
     "    affiliate_id     TEXT NOT NULL REFERENCES affiliates(id),\n"
     "    sheets           {BIG} NOT NULL CHECK (sheets BETWEEN 1 AND 65535),\n"
     "    labels_per_sheet {BIG} NOT NULL CHECK (labels_per_sheet BETWEEN 1 AND 99),\n"
     "    payment          {BIG} NOT NULL CHECK (payment IN (0, 1, 2)),\n"
     "    price_mills      {BIG} NOT NULL CHECK (price_mills BETWEEN 0 AND " MILLS_MAX_SQL "),\n"
     "    distributed      {BIG} NOT NULL,\n"
     "    order_id         TEXT NOT NULL DEFAULT ''\n"
     ")"},
    {ALL, "CREATE INDEX media_batches_affiliate ON media_batches(affiliate_id)"},
    {ALL, "CREATE TABLE media_sheets (\n"
          "    batch       {BIG} NOT NULL REFERENCES media_batches(batch),\n"
          "    sheet       {BIG} NOT NULL CHECK (sheet BETWEEN 1 AND 65535),\n"
          "    payment     {BIG} NOT NULL CHECK (payment IN (0, 1, 2)),\n"
          "    paid_by     TEXT NOT NULL DEFAULT '',\n"
          "    paid_at     {BIG} NOT NULL DEFAULT 0,\n"
          "    labels_used {BIG} NOT NULL DEFAULT 0 CHECK (labels_used BETWEEN 0 AND 99),\n"
          "    first_use   {BIG} NOT NULL DEFAULT 0,\n"
          "    last_use    {BIG} NOT NULL DEFAULT 0,\n"
          "    PRIMARY KEY (batch, sheet)\n"
          "){NOROWID}"},
    {ALL, "CREATE TABLE media_labels (\n"
          "    batch       {BIG} NOT NULL,\n"
          "    sheet       {BIG} NOT NULL,\n"
          "    position    {BIG} NOT NULL CHECK (position BETWEEN 1 AND 99),\n"
          "    indicium_id TEXT NOT NULL REFERENCES indicia(id),\n"
          "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
          "    used_at     {BIG} NOT NULL,\n"
          "    PRIMARY KEY (batch, sheet, position),\n"
          "    FOREIGN KEY (batch, sheet) REFERENCES media_sheets(batch, sheet)\n"
          "){NOROWID}"},
    {ALL, "CREATE INDEX media_labels_used ON media_labels(used_at)"},
    {ALL, "CREATE TABLE resupply_orders (\n"
          "    id               TEXT PRIMARY KEY,\n"
          "    affiliate_id     TEXT NOT NULL REFERENCES affiliates(id),\n"
          "    status           {BIG} NOT NULL CHECK (status IN (0, 1)),\n"
          "    product          {BIG} NOT NULL,\n"
          "    labels_remaining {BIG} NOT NULL,\n"
          "    created          {BIG} NOT NULL,\n"
          "    shipped_at       {BIG} NOT NULL DEFAULT 0,\n"
          "    batch            {BIG} NOT NULL DEFAULT 0\n"
          ")"},
    {ALL,
     "CREATE UNIQUE INDEX resupply_one_open ON resupply_orders(affiliate_id) WHERE status = 0"},
    {0, NULL},
};

/*
 * Issue 14: a PSD is bound to the crypto module that holds its key (the
 * module's identity, crypto.h), and a server says which module it signs
 * with, so that leases follow the binding (domain/lease.c). '' in keys is a
 * key from before the binding (a file module's: lease.c derives it).
 */
static const struct ddl migration_v6[] = {
    {ALL, "ALTER TABLE keys ADD COLUMN module_id TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE servers ADD COLUMN module_id TEXT NOT NULL DEFAULT ''"},
    {0, NULL},
};

/*
 * Issue 12: every card payment is an intent recorded (and committed) before
 * the gateway is called, so that recovery can capture or void it
 * (domain/intent.c, docs/payments.md).
 */
static const struct ddl migration_v7[] = {
    {ALL,
     "CREATE TABLE pay_intents (\n"
     "    id                TEXT PRIMARY KEY,\n"
     "    kind              TEXT NOT NULL\n"
     "        CHECK (kind IN ('purchase', 'auto_refill', 'funds', 'refund')),\n"
     "    owner             TEXT NOT NULL,\n"
     "    customer_id       TEXT NOT NULL,\n"
     "    test              INTEGER NOT NULL CHECK (test IN (0, 1)),\n"
     "    client_key        TEXT NOT NULL,\n"
     "    attempt           {BIG} NOT NULL CHECK (attempt >= 1),\n"
     "    req_hash          TEXT NOT NULL DEFAULT '',\n"
     "    gateway_key       TEXT NOT NULL UNIQUE,\n"
     "    source            TEXT NOT NULL DEFAULT '',\n"
     "    payment_method_id TEXT NOT NULL DEFAULT '',\n"
     "    brand             TEXT NOT NULL DEFAULT '',\n"
     "    last4             TEXT NOT NULL DEFAULT '',\n"
     "    amount_mills      {BIG} NOT NULL\n"
     "        CHECK (amount_mills > 0 AND amount_mills <= " MILLS_MAX_SQL "),\n"
     "    state             TEXT NOT NULL CHECK (state IN ('pending', 'authorized', 'settling',\n"
     "        'captured', 'voiding', 'voided', 'declined', 'paid')),\n"
     "    charge_id         TEXT NOT NULL DEFAULT '',\n"
     "    ref               TEXT NOT NULL DEFAULT '',\n"
     "    server_id         TEXT NOT NULL DEFAULT '',\n"
     "    created           {BIG} NOT NULL,\n"
     "    updated           {BIG} NOT NULL,\n"
     "    UNIQUE (kind, owner, client_key, attempt)\n"
     ")"},
    {ALL, "CREATE INDEX pay_intents_state ON pay_intents(state, updated)"},
    {ALL, "CREATE INDEX pay_intents_owner ON pay_intents(owner, kind)"},
    {0, NULL},
};

/*
 * 8: the postal authority as a party (issue 13). Its
 * accounts; API keys of role 3 - a CHECK cannot be changed in SQLite, so
 * api_keys is rebuilt there with the same columns; every counted
 * presentation with when and where the authority says it was; the deposit
 * credits it made; refills found by their authorization (deposit history).
 */
static const struct ddl migration_v8[] = {
    {ALL, "CREATE TABLE postal_accounts (\n"
          "    id      TEXT PRIMARY KEY,\n"
          "    name    TEXT NOT NULL UNIQUE,\n"
          "    created {BIG} NOT NULL\n"
          ")"},
    {PG, "ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check"},
    {PG, "ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check CHECK (role IN (1, 2, 3))"},
    {SQLITE, "CREATE TABLE api_keys_v8 (\n"
             "    id         TEXT PRIMARY KEY,\n"
             "    hash       TEXT NOT NULL UNIQUE,\n"
             "    prefix     TEXT NOT NULL,\n"
             "    role       INTEGER NOT NULL CHECK (role IN (1, 2, 3)),\n"
             "    owner_id   TEXT NOT NULL,\n"
             "    created    INTEGER NOT NULL,\n"
             "    revoked_at INTEGER,\n"
             "    test       INTEGER NOT NULL DEFAULT 0 CHECK (test IN (0, 1)),\n"
             "    name       TEXT NOT NULL DEFAULT ''\n"
             ")"},
    {SQLITE, "INSERT INTO api_keys_v8(id, hash, prefix, role, owner_id, created, revoked_at, "
             "test, name) SELECT id, hash, prefix, role, owner_id, created, revoked_at, test, "
             "name FROM api_keys"},
    {SQLITE, "DROP TABLE api_keys"},
    {SQLITE, "ALTER TABLE api_keys_v8 RENAME TO api_keys"},
    {SQLITE, "CREATE INDEX api_keys_owner ON api_keys(owner_id)"},
    {ALL, "CREATE TABLE presentations (\n"
          "    indicium_id  TEXT NOT NULL REFERENCES indicia(id),\n"
          "    seq          {BIG} NOT NULL CHECK (seq >= 1),\n"
          "    postal_id    TEXT NOT NULL,\n"
          "    presented_at {BIG} NOT NULL,\n"
          "    location     TEXT NOT NULL,\n"
          "    recorded_at  {BIG} NOT NULL,\n"
          "    PRIMARY KEY (indicium_id, seq)\n"
          ")"},
    {ALL, "CREATE TABLE deposit_credits (\n"
          "    id           TEXT PRIMARY KEY,\n"
          "    amount_mills {BIG} NOT NULL CHECK (amount_mills BETWEEN 1 AND " MILLS_MAX_SQL "),\n"
          "    reference    TEXT NOT NULL,\n"
          "    credited_by  TEXT NOT NULL,\n"
          "    at           {BIG} NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX refills_authorization ON refills(authorization_ref)"},
    {0, NULL},
};

/*
 * v9 (issue 13, part 2): each reset carries the postal authority's signature
 * of its canonical record (domain/reset_auth.h); resets from before have ''.
 */
static const struct ddl migration_v9[] = {
    {ALL, "ALTER TABLE refills ADD COLUMN authority_sig TEXT NOT NULL DEFAULT ''"},
    {0, NULL},
};

/*
 * v10: certificates for PSD keys (issue 14; domain/certs.c): each key's
 * certificate from the vendor CA, and its retirement by a rotation and its
 * revocation. The CA's own certificate, key reference and CRL are config
 * rows.
 */
static const struct ddl migration_v10[] = {
    {ALL, "ALTER TABLE keys ADD COLUMN cert_pem TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE keys ADD COLUMN retired_at {BIG} NOT NULL DEFAULT 0"},
    {ALL, "ALTER TABLE keys ADD COLUMN revoked_at {BIG} NOT NULL DEFAULT 0"},
    {ALL, "ALTER TABLE keys ADD COLUMN revoke_reason TEXT NOT NULL DEFAULT ''"},
    {0, NULL},
};

/*
 * v11 (issue 13, device lifecycle): who suspended a PSD and why, and every
 * status change and movement of a PSD with its registers at that moment
 * (39 CFR 501.14). A PSD suspended before v11 was suspended by its key's
 * revocation (certs.c). Existing PSDs get an "added" event with their
 * registers as they are.
 */
static const struct ddl migration_v11[] = {
    {ALL, "ALTER TABLE psds ADD COLUMN suspended_by TEXT NOT NULL DEFAULT ''"},
    {ALL, "ALTER TABLE psds ADD COLUMN status_reason TEXT NOT NULL DEFAULT ''"},
    {ALL, "UPDATE psds SET suspended_by = 'system', status_reason = 'key revoked' "
          "WHERE status = 1"},
    {ALL, "CREATE TABLE psd_events (\n"
          "    id            {SERIAL} PRIMARY KEY,\n"
          "    psd_id        {BIG} NOT NULL REFERENCES psds(id),\n"
          "    at            {BIG} NOT NULL,\n"
          "    event         TEXT NOT NULL,\n"
          "    actor         TEXT NOT NULL CHECK (actor IN ('operator', 'authority', 'system')),\n"
          "    actor_id      TEXT NOT NULL,\n"
          "    reason        TEXT NOT NULL,\n"
          "    status_before {BIG} NOT NULL CHECK (status_before BETWEEN 0 AND 2),\n"
          "    status_after  {BIG} NOT NULL CHECK (status_after BETWEEN 0 AND 2),\n"
          "    descending    {BIG} NOT NULL CHECK (descending >= 0),\n"
          "    ascending     {BIG} NOT NULL CHECK (ascending >= 0),\n"
          "    control_total {BIG} NOT NULL CHECK (control_total >= 0),\n"
          "    piece_count   {BIG} NOT NULL CHECK (piece_count >= 0),\n"
          "    ref           TEXT NOT NULL\n"
          ")"},
    {ALL, "CREATE INDEX psd_events_psd ON psd_events(psd_id, id)"},
    {ALL, "INSERT INTO psd_events(psd_id, at, event, actor, actor_id, reason, status_before, "
          "status_after, descending, ascending, control_total, piece_count, ref) "
          "SELECT id, {NOW}, 'added', 'system', '', 'in service at schema v11', status, status, "
          "descending, ascending, control_total, piece_count, '' FROM psds ORDER BY id"},
    {0, NULL},
};

/*
 * v12 (issue 13, part 4): the daily per-device reports each processor signs
 * with the PSD's key (domain/report.h) - the exact bytes of each form, the
 * signature, the totals and the registers at the start and end of the day -
 * and the last contact of each PSD, which the watchdog reads.
 */
static const struct ddl migration_v12[] = {
    {ALL, "CREATE TABLE device_reports (\n"
          "    psd_id        {BIG} NOT NULL REFERENCES psds(id),\n"
          "    day           TEXT NOT NULL,\n"
          "    key_id        {BIG} NOT NULL,\n"
          "    pieces        {BIG} NOT NULL CHECK (pieces >= 0),\n"
          "    postage_mills {BIG} NOT NULL CHECK (postage_mills >= 0),\n"
          "    asc_start     {BIG} NOT NULL,\n"
          "    asc_end       {BIG} NOT NULL,\n"
          "    ctl_start     {BIG} NOT NULL,\n"
          "    ctl_end       {BIG} NOT NULL,\n"
          "    count_start   {BIG} NOT NULL,\n"
          "    count_end     {BIG} NOT NULL,\n"
          "    jsonl         TEXT NOT NULL,\n"
          "    jsonl_sig     TEXT NOT NULL,\n"
          "    csv           TEXT NOT NULL,\n"
          "    csv_sig       TEXT NOT NULL,\n"
          "    made_by       TEXT NOT NULL,\n"
          "    created       {BIG} NOT NULL,\n"
          "    PRIMARY KEY (psd_id, day)\n"
          ")"},
    {ALL, "CREATE INDEX device_reports_day ON device_reports(day, psd_id)"},
    {ALL, "CREATE TABLE psd_contact (\n"
          "    psd_id          {BIG} PRIMARY KEY REFERENCES psds(id),\n"
          "    last_contact_at {BIG} NOT NULL,\n"
          "    locked          INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1))\n"
          ")"},
    {ALL, "CREATE INDEX indicia_psd_created ON indicia(psd_id, created)"},
    {0, NULL},
};

/*
 * v13 (issue 13): refunds of unused postage as claims on the postal
 * authority (domain/claims.h), the authority's holds on a customer, and an
 * index of the pieces it has seen. Every approved refund from before gets
 * its claim ("rcl_" + the refund id's tail), pending, with its journal
 * entry (refund_claim: refund_claims -> authority_receivable), so that the
 * books say from the start what the authority owes back.
 */
static const struct ddl migration_v13[] = {
    {ALL, "CREATE TABLE refund_claims (\n"
          "    seq          {SERIAL} PRIMARY KEY{AUTOINC},\n"
          "    id           TEXT NOT NULL UNIQUE,\n"
          "    refund_id    TEXT NOT NULL UNIQUE REFERENCES refunds(id),\n"
          "    indicium_id  TEXT NOT NULL REFERENCES indicia(id),\n"
          "    psd_id       {BIG} NOT NULL,\n"
          "    serial       {BIG} NOT NULL,\n"
          "    amount_mills {BIG} NOT NULL CHECK (amount_mills BETWEEN 1 AND " MILLS_MAX_SQL "),\n"
          "    status       INTEGER NOT NULL CHECK (status IN (0, 1, 2)),\n"
          "    reason       TEXT NOT NULL DEFAULT '',\n"
          "    decided_by   TEXT NOT NULL DEFAULT '',\n"
          "    created      {BIG} NOT NULL,\n"
          "    decided_at   {BIG} NOT NULL DEFAULT 0\n"
          ")"},
    {ALL, "CREATE INDEX refund_claims_status ON refund_claims(status, seq)"},
    {ALL, "INSERT INTO refund_claims(id, refund_id, indicium_id, psd_id, serial, amount_mills, "
          "status, created) SELECT 'rcl_' || substr(r.id, 5), r.id, r.indicium_id, i.psd_id, "
          "i.serial, r.amount_mills, 0, r.decided_at FROM refunds r "
          "JOIN indicia i ON i.id = r.indicium_id "
          "WHERE r.status = 1 AND r.amount_mills > 0 AND (i.flags & 1) = 0 "
          "ORDER BY r.decided_at, r.id"},
    {ALL, "INSERT INTO accounts(name, balance_mills) "
          "SELECT 'refund_claims', -(SELECT SUM(amount_mills) FROM refund_claims) "
          "WHERE EXISTS (SELECT 1 FROM refund_claims)"},
    {ALL, "INSERT INTO accounts(name, balance_mills) "
          "SELECT 'authority_receivable', (SELECT SUM(amount_mills) FROM refund_claims) "
          "WHERE EXISTS (SELECT 1 FROM refund_claims)"},
    {ALL, "INSERT INTO journals(kind, ref, at) "
          "SELECT 'refund_claim', id, created FROM refund_claims ORDER BY seq"},
    {ALL, "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "
          "SELECT j.id, 0, 'refund_claims', -c.amount_mills FROM journals j "
          "JOIN refund_claims c ON c.id = j.ref WHERE j.kind = 'refund_claim'"},
    {ALL, "INSERT INTO journal_lines(journal_id, line, account, amount_mills) "
          "SELECT j.id, 1, 'authority_receivable', c.amount_mills FROM journals j "
          "JOIN refund_claims c ON c.id = j.ref WHERE j.kind = 'refund_claim'"},
    {ALL, "CREATE TABLE authority_holds (\n"
          "    seq         {SERIAL} PRIMARY KEY{AUTOINC},\n"
          "    id          TEXT NOT NULL UNIQUE,\n"
          "    customer_id TEXT NOT NULL REFERENCES customers(id),\n"
          "    reason      TEXT NOT NULL,\n"
          "    placed_by   TEXT NOT NULL,\n"
          "    placed_at   {BIG} NOT NULL,\n"
          "    psd_id      {BIG} NOT NULL DEFAULT 0,\n"
          "    serial      {BIG} NOT NULL DEFAULT -1,\n"
          "    lifted_by   TEXT NOT NULL DEFAULT '',\n"
          "    lifted_at   {BIG} NOT NULL DEFAULT 0,\n"
          "    lift_reason TEXT NOT NULL DEFAULT ''\n"
          ")"},
    {ALL, "CREATE INDEX authority_holds_standing ON authority_holds(customer_id) "
          "WHERE lifted_at = 0"},
    {ALL, "CREATE INDEX indicia_presented ON indicia(seq) WHERE presentations > 0"},
    {0, NULL},
};

/*
 * v14: a web login for the postal authority (issue 13): a password for a
 * postal account, and sessions of role 3. A CHECK cannot be changed in
 * SQLite, so sessions is rebuilt there with the same columns and rows.
 */
static const struct ddl migration_v14[] = {
    {ALL, "ALTER TABLE postal_accounts ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''"},
    {PG, "ALTER TABLE sessions DROP CONSTRAINT sessions_role_check"},
    {PG, "ALTER TABLE sessions ADD CONSTRAINT sessions_role_check CHECK (role IN (1, 2, 3))"},
    {SQLITE, "CREATE TABLE sessions_new (\n"
             "    hash     TEXT PRIMARY KEY,\n"
             "    role     INTEGER NOT NULL CHECK (role IN (1, 2, 3)),\n"
             "    owner_id TEXT NOT NULL,\n"
             "    csrf     TEXT NOT NULL,\n"
             "    created  INTEGER NOT NULL,\n"
             "    expires  INTEGER NOT NULL\n"
             ")"},
    {SQLITE, "INSERT INTO sessions_new(hash, role, owner_id, csrf, created, expires) "
             "SELECT hash, role, owner_id, csrf, created, expires FROM sessions"},
    {SQLITE, "DROP TABLE sessions"},
    {SQLITE, "ALTER TABLE sessions_new RENAME TO sessions"},
    {0, NULL},
};

/*
 * v20: cost flat in history (issue 15, docs/performance.md): journals_ref goes.
 * No statement looks a journal up by its ref (the deposit's history reads the
 * ref of journals it found by account), and with a million pieces stored the
 * index cost each purchase a page of its own. IF EXISTS: a store a test took
 * back to an earlier version may come here without it.
 */
static const struct ddl migration_v20[] = {
    {ALL, "DROP INDEX IF EXISTS journals_ref"},
    {0, NULL},
};

/*
 * v21: processors in parallel on PostgreSQL (issue 15, docs/performance.md): a
 * total many writers add to (revenue:postage, postage_dispensed, card_clearing
 * and their test: twins) is kept in parts, one row per writer, so batches of
 * several processors never wait for each other's row. An account's balance is
 * its own row plus its parts (ACCOUNT_GET, ledger check); the row stays, for
 * the journal lines that reference it and for the writers without a part.
 */
static const struct ddl migration_v21[] = {
    {ALL, "CREATE TABLE account_parts (\n"
          "    name          TEXT NOT NULL REFERENCES accounts(name),\n"
          "    part          {BIG} NOT NULL CHECK (part <> 0),\n"
          "    balance_mills {BIG} NOT NULL CONSTRAINT part_balance_range\n"
          "        CHECK (balance_mills BETWEEN -" MILLS_MAX_SQL " AND " MILLS_MAX_SQL "),\n"
          "    PRIMARY KEY (name, part)\n"
          ")"},
    {0, NULL},
};

/*
 * v22: every customer has a balance row (issue 15, docs/performance.md). A
 * purchase batch on PostgreSQL locks its customers' rows in name order before
 * anything else (purchase_lock.c); a customer without a row - no funds yet, its
 * first card purchase would make the row inside its job - escaped that order,
 * and two such batches could deadlock. New customers get the row when they are
 * made (pv_store_account_open); this gives it to those made before.
 */
static const struct ddl migration_v22[] = {
    {ALL, "INSERT INTO accounts(name, balance_mills) "
          "SELECT 'customer:' || id, 0 FROM customers WHERE id IS NOT NULL "
          "ON CONFLICT (name) DO NOTHING"},
    {0, NULL},
};

/*
 * v23: pay_intents_owner goes (issue 15, docs/performance.md): every statement
 * that reads intents by owner also names the kind (INTENT_LATEST, INTENT_ACTIVE,
 * CARD_HEAD) and is served by the (kind, owner, client_key, attempt) key, so
 * the index only cost each card purchase a page written.
 */
static const struct ddl migration_v23[] = {
    {ALL, "DROP INDEX IF EXISTS pay_intents_owner"},
    {0, NULL},
};

/*
 * v25 (issue 15, session 10, docs/performance.md): on PostgreSQL the
 * journal lines' two foreign keys become one statement-level check. The keys' triggers ran
 * a query a line and key - 8 a purchase, ~18 % of the cluster's CPU under the benchmark -
 * in the statement that writes a batch's journals; the check reads the statement's new
 * lines once: every account named exists (locked FOR KEY SHARE, as the key locked it) and
 * every journal. Deleting an account or a journal that lines name, or renaming it, is
 * refused as the keys refused it (journals.id is never updated: an identity). SQLite keeps
 * its foreign keys. Safe to run again (the migration tests rewind to v21).
 */
static const struct ddl migration_v25[] = {
    {PG, "CREATE OR REPLACE FUNCTION journal_lines_refs() RETURNS trigger LANGUAGE plpgsql AS $$\n"
         "DECLARE accts text[]; ids bigint[];\n"
         "BEGIN\n"
         "  SELECT array_agg(DISTINCT account), array_agg(DISTINCT journal_id)\n"
         "    INTO accts, ids FROM journal_lines_new;\n"
         "  IF (SELECT count(*) FROM (SELECT 1 FROM accounts a WHERE a.name = ANY (accts)\n"
         "        FOR KEY SHARE OF a) k) <> cardinality(accts)\n"
         "     OR (SELECT count(*) FROM (SELECT 1 FROM journals j WHERE j.id = ANY (ids)\n"
         "        FOR KEY SHARE OF j) r) <> cardinality(ids)\n"
         "  THEN\n"
         "    RAISE foreign_key_violation\n"
         "      USING MESSAGE = 'a journal line names no account or journal';\n"
         "  END IF;\n"
         "  RETURN NULL;\n"
         "END $$"},
    {PG, "DROP TRIGGER IF EXISTS journal_lines_refs ON journal_lines"},
    {PG, "CREATE TRIGGER journal_lines_refs AFTER INSERT ON journal_lines\n"
         "  REFERENCING NEW TABLE AS journal_lines_new\n"
         "  FOR EACH STATEMENT EXECUTE FUNCTION journal_lines_refs()"},
    {PG, "CREATE OR REPLACE FUNCTION accounts_lines_kept() RETURNS trigger LANGUAGE plpgsql AS $$\n"
         "BEGIN\n"
         "  IF EXISTS (SELECT 1 FROM journal_lines WHERE account = OLD.name) THEN\n"
         "    RAISE foreign_key_violation USING MESSAGE = 'journal lines name ' || OLD.name;\n"
         "  END IF;\n"
         "  RETURN OLD;\n"
         "END $$"},
    {PG,
     "CREATE OR REPLACE FUNCTION journals_lines_kept() RETURNS trigger LANGUAGE plpgsql AS $$\n"
     "BEGIN\n"
     "  IF EXISTS (SELECT 1 FROM journal_lines WHERE journal_id = OLD.id) THEN\n"
     "    RAISE foreign_key_violation USING MESSAGE = 'journal lines name journal ' || OLD.id;\n"
     "  END IF;\n"
     "  RETURN OLD;\n"
     "END $$"},
    {PG, "DROP TRIGGER IF EXISTS accounts_lines_delete ON accounts"},
    {PG, "CREATE TRIGGER accounts_lines_delete BEFORE DELETE ON accounts\n"
         "  FOR EACH ROW EXECUTE FUNCTION accounts_lines_kept()"},
    {PG, "DROP TRIGGER IF EXISTS accounts_lines_rename ON accounts"},
    {PG, "CREATE TRIGGER accounts_lines_rename BEFORE UPDATE OF name ON accounts\n"
         "  FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name)\n"
         "  EXECUTE FUNCTION accounts_lines_kept()"},
    {PG, "DROP TRIGGER IF EXISTS journals_lines_delete ON journals"},
    {PG, "CREATE TRIGGER journals_lines_delete BEFORE DELETE ON journals\n"
         "  FOR EACH ROW EXECUTE FUNCTION journals_lines_kept()"},
    {PG, "ALTER TABLE journal_lines DROP CONSTRAINT IF EXISTS journal_lines_account_fkey, "
         "DROP CONSTRAINT IF EXISTS journal_lines_journal_id_fkey"},
    {0, NULL},
};

const struct ddl *const pv_schema_migrations[] = {
    migration_v1,     /* 1: everything store.h v1 needs */
    migration_v2,     /* 2: printing: render records, print counts, addresses, printers */
    migration_v3,     /* 3: scale-out: servers, PSD leases and their log */
    migration_v4,     /* 4: accounts, payments, refunds: sessions, cards, charges, refunds */
    migration_v5,     /* 5: media: serial secrets, affiliates, batches, sheets, labels, resupply */
    migration_v6,     /* 6: PSD keys bound to crypto modules */
    migration_v7,     /* 7: payment intents: card payments recorded before the gateway is called */
    migration_v8,     /* 8: the postal authority: its accounts and keys, presentations, deposits */
    migration_v9,     /* 9: resets signed by the postal authority */
    migration_v10,    /* 10: PSD key certificates, retirement and revocation */
    migration_v11,    /* 11: PSD status history, who suspended a PSD */
    migration_v12,    /* 12: signed daily device reports and the watchdog's last contact */
    migration_v13,    /* 13: refund claims, authority holds, presented pieces */
    migration_v14,    /* 14: a web login for the postal authority */
    pv_migration_v15, /* 15: the medium position: sheet serial and label of a piece */
    pv_migration_v16, /* 16: rate tables as data; a piece's options and price breakdown */
    pv_migration_v17, /* 17: a purchase's metadata, and its search index */
    pv_migration_v18, /* 18: bulk buying: batches and their items */
    pv_migration_v19, /* 19: webhooks: endpoints, the event outbox, deliveries, attempts */
    migration_v20,    /* 20: journals_ref dropped: unused, a page per purchase */
    migration_v21,    /* 21: shared ledger totals in parts, one row per writer */
    migration_v22,    /* 22: a balance row for every customer, to lock in name order */
    migration_v23,    /* 23: pay_intents_owner dropped: the intents' key serves its reads */
    pv_migration_v24, /* 24: an intent's gateway key unique only where it could repeat */
    migration_v25,    /* 25: journal lines' foreign keys checked once a statement (PostgreSQL) */
    pv_migration_v26, /* 26: the indicia's foreign keys checked once a statement (PostgreSQL) */
    pv_migration_v27, /* 27: the intents' CHECKs without lists (SQLite) */
    pv_migration_v28, /* 28: api_keys changes told to the fronts' API-key caches */
    pv_migration_v29, /* 29: pay_intents_live without a list (SQLite) */
    pv_migration_v30, /* 30: journal lines without a rowid (SQLite) */
    pv_migration_v31, /* 31: the key checks' lookups by key, never whole tables (PostgreSQL) */
    pv_migration_v32, /* 32: intents without a rowid (SQLite), charges_customer dropped */
    pv_migration_v33, /* 33: a card purchase's key kept by its intent alone (SQLite) */
    pv_migration_v34, /* 34: a card on its way holds its key; its batch reads it no more (SQLite) */
    pv_migration_v35, /* 35: intents in a rowid table again (SQLite) */
    pv_migration_v36, /* 36: idempotency rows in a rowid table (SQLite) */
    pv_migration_v37, /* 37: a top-up's idempotency record in a namespace of its own */
    pv_migration_v38, /* 38: each server's count of indicia in a row; indicia_server dropped */
    pv_migration_v39, /* 39: indicia_psd_created holds the server: the last hour's count */
    pv_migration_v40, /* 40: the servers' counts kept by the batch, not a row's trigger (SQLite) */
    pv_migration_v41, /* 41: journal_lines_account for the accounts read by account (SQLite) */
    pv_migration_v42, /* 42: the same on PostgreSQL */
    pv_migration_v43, /* 43: the lines' and indicia's checks lock no row (PostgreSQL) */
    pv_migration_v44, /* 44: each PSD's pieces and postage a day in a row: the admin's stats */
    pv_migration_v45, /* 45: each server's indicia a minute, sixty slots: the admin's last hour */
    pv_migration_v46, /* 46: the writers' checks keep their generic plans (PostgreSQL) */
};

_Static_assert(sizeof pv_schema_migrations / sizeof pv_schema_migrations[0] == PV_SCHEMA_VERSION,
               "one migration per schema version");
