/*
 * maildate.c - mail dates as people type them: "YYYY-MM-DD" parsed into the
 * YYYYMMDD integer an indicium carries, accepted only when pv_date_valid
 * (indicium.c) says the indicium format can hold it. The calendar arithmetic
 * itself is core (timeutil.c); what a mail date may be is the domain's.
 */
#include "stampd/indicium.h"

#include "stampd/error.h"

#include <stdint.h>
#include <string.h>

/*
 * pv_date_parse - see indicium.h. Borrows s; *out is written only on PV_OK.
 */
int pv_date_parse(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    int i;

    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return PV_EMAILDATE;
    for (i = 0; i < 10; i++) {
        if (i == 4 || i == 7)
            continue;
        if (s[i] < '0' || s[i] > '9')
            return PV_EMAILDATE;
        v = v * 10 + (uint32_t) (s[i] - '0');
    }
    if (!pv_date_valid(v))
        return PV_EMAILDATE;
    *out = v;
    return PV_OK;
}
