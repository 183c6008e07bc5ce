/*
 * timeutil.c - civil-date arithmetic (days from 1970-01-01, proleptic
 * Gregorian), used for mail dates and timestamps. Core: it knows calendars,
 * not what a valid mail date is (that is the domain's, maildate.c).
 */
#include "stampd/timeutil.h"

#include <stdio.h>
#include <time.h>

/* pv_now - see timeutil.h. */
int64_t pv_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec;
}

/* pv_now_ms - see timeutil.h. */
int64_t pv_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pv_mono_ms - see timeutil.h. */
int64_t pv_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pv_mono_us - see timeutil.h. */
int64_t pv_mono_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned) (y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t) doe - 719468;
}

static uint32_t civil_from_days(int64_t z)
{
    int64_t era, y;
    unsigned doe, yoe, doy, mp, d, m;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = (int64_t) yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    return (uint32_t) (y * 10000 + m * 100 + d);
}

/* pv_date_from_unix - see timeutil.h. */
uint32_t pv_date_from_unix(int64_t t)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    return civil_from_days(days);
}

/* pv_date_to_unix - see timeutil.h. */
int64_t pv_date_to_unix(uint32_t ymd)
{
    return days_from_civil(ymd / 10000, (ymd / 100) % 100, ymd % 100) * 86400;
}

/* pv_date_add_days - see timeutil.h. */
uint32_t pv_date_add_days(uint32_t ymd, int days)
{
    int64_t z = days_from_civil(ymd / 10000, (ymd / 100) % 100, ymd % 100);
    return civil_from_days(z + days);
}

/* pv_date_format - see timeutil.h. */
char *pv_date_format(uint32_t ymd, char *buf, size_t n)
{
    snprintf(buf, n, "%04u-%02u-%02u", (unsigned) (ymd / 10000), (unsigned) ((ymd / 100) % 100),
             (unsigned) (ymd % 100));
    return buf;
}

/* pv_time_format - see timeutil.h. */
char *pv_time_format(int64_t t, char *buf, size_t n)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    int64_t secs = t - days * 86400;
    uint32_t ymd = civil_from_days(days);

    snprintf(buf, n, "%04u-%02u-%02uT%02u:%02u:%02uZ", (unsigned) (ymd / 10000),
             (unsigned) ((ymd / 100) % 100), (unsigned) (ymd % 100), (unsigned) (secs / 3600),
             (unsigned) ((secs / 60) % 60), (unsigned) (secs % 60));
    return buf;
}
