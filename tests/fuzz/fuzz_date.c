/*
 * fuzz_date.c - dates: the mail date text of a purchase or quote
 * (pv_date_parse, stampd/indicium.h) and the calendar arithmetic of
 * stampd/timeutil.h that the handlers run on it.
 *
 * The input is the text. Properties: what parses is a valid date that
 * formats back to the same text; one day on and back is the same date;
 * unix time and back is the same date; the RFC 3339 time of its midnight
 * starts with the date. A failed parse writes nothing.
 */
#include "fuzz.h"

#include "stampd/error.h"
#include "stampd/indicium.h"
#include "stampd/timeutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_text(data, size), day[16], stamp[32];
    uint32_t d = 7, next;
    int64_t t;
    int rc = pv_date_parse(text, &d);

    FUZZ_CHECK(rc == PV_OK || rc == PV_EMAILDATE);
    if (rc != PV_OK) {
        FUZZ_CHECK(d == 7);
        goto out;
    }
    FUZZ_CHECK(pv_date_valid(d));
    FUZZ_CHECK(strcmp(pv_date_format(d, day, sizeof day), text) == 0);
    next = pv_date_add_days(d, 1);
    FUZZ_CHECK(next > d && pv_date_add_days(next, -1) == d);
    FUZZ_CHECK(pv_date_add_days(d, 400) > d &&
               pv_date_add_days(pv_date_add_days(d, 400), -400) == d);
    t = pv_date_to_unix(d);
    FUZZ_CHECK(t % 86400 == 0 && pv_date_from_unix(t) == d && pv_date_from_unix(t + 86399) == d);
    FUZZ_CHECK(pv_date_from_unix(t + 86400) == next);
    pv_time_format(t, stamp, sizeof stamp);
    FUZZ_CHECK(strncmp(stamp, text, 10) == 0 && strcmp(stamp + 10, "T00:00:00Z") == 0);
out:
    free(text);
    return 0;
}
