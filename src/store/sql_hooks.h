/*
 * sql_hooks.h - the statements of webhooks (store/hooks.c, schema v19),
 * part of sql.h's list (PV_HOOK_STATEMENTS, expanded inside
 * PV_STATEMENTS). Private to src/store.
 */
#ifndef STAMPD_STORE_SQL_HOOKS_H
#define STAMPD_STORE_SQL_HOOKS_H

#define HOOK_EP_COLS                                                                               \
    "id, owner_id, test, url, description, events, enabled, secret, created, updated"
#define HOOK_EV_COLS "seq, id, owner_id, test, type, created, data"
#define HOOK_DL_COLS                                                                               \
    "seq, event_id, endpoint_id, status, attempts, first_at, next_at, last_code, last_error"

#define PV_HOOK_STATEMENTS(X)                                                                      \
    X(HOOK_EP_INSERT, BOTH("INSERT INTO webhook_endpoints(" HOOK_EP_COLS ") "                      \
                           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))                    \
    X(HOOK_EP_GET, BOTH("SELECT " HOOK_EP_COLS " FROM webhook_endpoints WHERE id = $1 "            \
                        "AND ($2 = '' OR (owner_id = $2 AND test = $3))"))                         \
    X(HOOK_EP_UPDATE,                                                                              \
      BOTH("UPDATE webhook_endpoints SET url = $1, description = $2, events = $3, "                \
           "enabled = $4, secret = $5, updated = $6 "                                              \
           "WHERE id = $7 AND owner_id = $8 AND test = $9"))                                       \
    X(HOOK_EP_DELETE,                                                                              \
      BOTH("DELETE FROM webhook_endpoints WHERE id = $1 AND owner_id = $2 AND test = $3"))         \
    X(HOOK_EP_FAIL_PENDING,                                                                        \
      BOTH("UPDATE webhook_deliveries SET status = 2, last_error = 'endpoint deleted', "           \
           "lease_holder = '', lease_until = 0, updated = $2 "                                     \
           "WHERE endpoint_id = $1 AND status = 0"))                                               \
    X(HOOK_EP_LIST, BOTH("SELECT " HOOK_EP_COLS " FROM webhook_endpoints "                         \
                         "WHERE owner_id = $1 AND test = $2 ORDER BY seq"))                        \
    X(HOOK_ENABLED, BOTH("SELECT id, events FROM webhook_endpoints WHERE owner_id = $1 "           \
                         "AND test = $2 AND enabled = 1 ORDER BY seq LIMIT $3"))                   \
    /* The owners (a JSON array of ids) with an enabled endpoint, and of which mode (an owner      \
     * may come more than once). SQLite: nothing built when no endpoint is enabled (g has no       \
     * row; the IN list was a temporary B-tree of the batch's owners each batch), else each        \
     * owner looked up in turn (issue 15, session 12). */                                          \
    X(HOOK_OWNERS,                                                                                 \
      DIALECT("SELECT e.owner_id, e.test FROM (SELECT 1 WHERE EXISTS (SELECT 1 "                   \
              "FROM webhook_endpoints WHERE enabled = 1)) AS g CROSS JOIN json_each($1) AS j "     \
              "CROSS JOIN webhook_endpoints AS e WHERE e.owner_id = j.value AND e.enabled = 1",    \
              "SELECT DISTINCT owner_id, test FROM webhook_endpoints WHERE enabled = 1 "           \
              "AND owner_id IN (SELECT json_array_elements_text($1::json))"))                      \
    X(HOOK_EV_INSERT, BOTH("INSERT INTO webhook_events(id, owner_id, test, type, created, data) "  \
                           "VALUES ($1, $2, $3, $4, $5, $6)"))                                     \
    X(HOOK_EV_GET, BOTH("SELECT " HOOK_EV_COLS " FROM webhook_events WHERE id = $1 "               \
                        "AND ($2 = '' OR (owner_id = $2 AND test = $3))"))                         \
    X(HOOK_EV_LIST, BOTH("SELECT " HOOK_EV_COLS " FROM webhook_events "                            \
                         "WHERE owner_id = $1 AND test = $2 AND ($3 = '' OR type = $3) "           \
                         "AND seq < $4 ORDER BY seq DESC LIMIT $5"))                               \
    X(HOOK_DL_INSERT,                                                                              \
      BOTH("INSERT INTO webhook_deliveries(event_id, endpoint_id, status, attempts, first_at, "    \
           "next_at, updated) VALUES ($1, $2, 0, 0, $3, $4, $4)"))                                 \
    X(HOOK_DL_DUE, BOTH("SELECT seq FROM webhook_deliveries WHERE status = 0 AND next_at <= $1 "   \
                        "AND lease_until < $1 ORDER BY next_at, seq LIMIT $2"))                    \
    X(HOOK_DL_CLAIM, BOTH("UPDATE webhook_deliveries SET lease_holder = $1, lease_until = $2 "     \
                          "WHERE seq = $3 AND status = 0 AND next_at <= $4 AND lease_until < $4")) \
    X(HOOK_DL_CLAIM_DUE,                                                                           \
      BOTH("UPDATE webhook_deliveries SET lease_holder = $1, lease_until = $2 "                    \
           "WHERE seq IN (SELECT seq FROM webhook_deliveries WHERE status = 0 "                    \
           "AND next_at <= $3 AND lease_until < $3 ORDER BY next_at, seq LIMIT $4) "               \
           "AND status = 0 AND next_at <= $3 AND lease_until < $3"))                               \
    X(HOOK_DL_CLAIMED, BOTH("SELECT " HOOK_DL_COLS " FROM webhook_deliveries "                     \
                            "WHERE lease_holder = $1 AND lease_until = $2 AND status = 0 "         \
                            "ORDER BY next_at, seq"))                                              \
    X(HOOK_DL_RELEASE, BOTH("UPDATE webhook_deliveries SET lease_holder = '', lease_until = 0 "    \
                            "WHERE seq = $1 AND lease_holder = $2 AND status = 0"))                \
    X(HOOK_DL_GET, BOTH("SELECT " HOOK_DL_COLS " FROM webhook_deliveries WHERE seq = $1"))         \
    X(HOOK_DL_FINISH,                                                                              \
      BOTH("UPDATE webhook_deliveries SET status = $1, attempts = $2, next_at = $3, "              \
           "last_code = $4, last_error = $5, updated = $6, lease_holder = '', lease_until = 0 "    \
           "WHERE seq = $7 AND lease_holder = $8 AND status = 0"))                                 \
    X(HOOK_AT_INSERT,                                                                              \
      BOTH("INSERT INTO webhook_attempts(delivery_seq, endpoint_id, event_id, attempt, at, "       \
           "status_code, latency_ms, outcome, error, response) "                                   \
           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))                                    \
    X(HOOK_DL_REDELIVER,                                                                           \
      BOTH("UPDATE webhook_deliveries SET status = 0, next_at = $1, first_at = $2, "               \
           "lease_holder = '', lease_until = 0, updated = $1 "                                     \
           "WHERE event_id = $3 AND (status = 2 OR ($4 = 1 AND status = 1)) "                      \
           "AND endpoint_id IN (SELECT id FROM webhook_endpoints "                                 \
           "WHERE owner_id = $5 AND test = $6)"))                                                  \
    X(HOOK_AT_LIST,                                                                                \
      BOTH("SELECT a.seq, a.delivery_seq, a.endpoint_id, a.event_id, e.type, a.attempt, a.at, "    \
           "a.status_code, a.latency_ms, a.outcome, a.error, a.response "                          \
           "FROM webhook_attempts a JOIN webhook_events e ON e.id = a.event_id "                   \
           "WHERE a.endpoint_id = $1 AND a.seq < $2 ORDER BY a.seq DESC LIMIT $3"))

#endif
