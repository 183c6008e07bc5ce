/*
 * sql.c - the statement table: sql.h's list, instantiated once. Drivers
 * prepare pv_sql[id].text[their dialect] under pv_sql[id].name.
 */
#include "store/sql.h"

#include <stddef.h>

#define BOTH(sql)                                                                                  \
    {                                                                                              \
        sql, sql                                                                                   \
    }
#define DIALECT(sqlite, pg)                                                                        \
    {                                                                                              \
        sqlite, pg                                                                                 \
    }

const struct pv_sql_text pv_sql[PV_SQL_COUNT] = {
#define PV_SQL_ENTRY(name, texts) [S_##name] = {#name, texts},
    PV_STATEMENTS(PV_SQL_ENTRY)
#undef PV_SQL_ENTRY
};
