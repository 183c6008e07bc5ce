/*
 * sql_reports.h - the statements of the daily device reports and the watchdog (store/reports.c,
 * schema v12) and of the resets a report reads (store/psd.c), part of sql.h's list
 * (PV_REPORT_STATEMENTS, expanded inside PV_STATEMENTS). Private to src/store.
 */
#ifndef STAMPD_STORE_SQL_REPORTS_H
#define STAMPD_STORE_SQL_REPORTS_H

#define REPORT_COLS                                                                                \
    "key_id, pieces, postage_mills, asc_start, asc_end, ctl_start, ctl_end, count_start, "         \
    "count_end, jsonl_sig, csv_sig, made_by, created"

#define PV_REPORT_STATEMENTS(X)                                                                    \
    /* A PSD's resets from a time on, with those of the last second before it, oldest first: the   \
     * registers at any time from then (report.c's regs_at) without every reset the PSD ever       \
     * had - one range of refills_psd, from the max() before since (one probe). */                 \
    X(REFILL_FROM, BOTH("SELECT id, " REFILL_COLS " FROM refills WHERE psd_id = $1 AND at >= "     \
                        "COALESCE((SELECT max(at) FROM refills WHERE psd_id = $1 AND at < $2), "   \
                        "$2) ORDER BY at, id"))                                                    \
    X(REPORT_PIECES,                                                                               \
      BOTH("SELECT id, serial, postage_mills, ascending_mills, mail_date, mail_class, "            \
           "weight_tenth_oz, flags, from_zip, to_zip, medium_serial, created, refunded_at, "       \
           "data FROM indicia WHERE psd_id = $1 AND created >= $2 AND created < $3 ORDER BY "      \
           "serial"))                                                                              \
    /* The PSD's last piece before $2 by its time (its second's highest serial): two probes of     \
     * indicia_psd_created, the second's few rows sorted (+serial: SQLite would rather walk the    \
     * serials back from the newest to spare the sort). Until session 37 "the highest serial       \
     * created before $2", which SQLite read through every earlier piece of the PSD (0.34 s at     \
     * 500,000): the same piece while a PSD's times follow its serials. */                         \
    X(PSD_READING_BEFORE,                                                                          \
      BOTH("SELECT serial, ascending_mills FROM indicia WHERE psd_id = $1 AND created = "          \
           "(SELECT max(created) FROM indicia WHERE psd_id = $1 AND created < $2) "                \
           "ORDER BY +serial DESC LIMIT 1"))                                                       \
    X(REPORT_INSERT, BOTH("INSERT INTO device_reports(psd_id, day, " REPORT_COLS ", jsonl, csv) "  \
                          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "       \
                          "$14, $15, $16, $17)"))                                                  \
    X(REPORT_GET, BOTH("SELECT psd_id, day, " REPORT_COLS ", jsonl, csv FROM device_reports "      \
                       "WHERE psd_id = $1 AND day = $2"))                                          \
    X(REPORT_LAST, BOTH("SELECT psd_id, day, " REPORT_COLS " FROM device_reports "                 \
                        "WHERE psd_id = $1 ORDER BY day DESC LIMIT 1"))                            \
    X(REPORT_LIST, BOTH("SELECT psd_id, day, " REPORT_COLS " FROM device_reports "                 \
                        "WHERE day = $1 ORDER BY psd_id"))                                         \
    X(REPORT_DAYS,                                                                                 \
      BOTH(                                                                                        \
          "SELECT day, COUNT(*), CAST(SUM(pieces) AS BIGINT), CAST(SUM(postage_mills) AS BIGINT) " \
          "FROM device_reports WHERE ($1 = '' OR day < $1) GROUP BY day ORDER BY day DESC "        \
          "LIMIT $2"))                                                                             \
    X(CONTACT_TOUCH, BOTH("INSERT INTO psd_contact(psd_id, last_contact_at, locked) "              \
                          "VALUES ($1, $2, 0) ON CONFLICT (psd_id) DO UPDATE SET "                 \
                          "last_contact_at = excluded.last_contact_at"))                           \
    X(CONTACT_START, BOTH("INSERT INTO psd_contact(psd_id, last_contact_at, locked) "              \
                          "VALUES ($1, $2, 0) ON CONFLICT (psd_id) DO NOTHING"))                   \
    X(CONTACT_GET, BOTH("SELECT psd_id, last_contact_at, locked FROM psd_contact "                 \
                        "WHERE psd_id = $1"))                                                      \
    X(CONTACT_SET_LOCKED, BOTH("UPDATE psd_contact SET locked = $1 WHERE psd_id = $2"))            \
    X(CONTACT_LIST, BOTH("SELECT psd_id, last_contact_at, locked FROM psd_contact ORDER BY "       \
                         "psd_id"))

#endif
