/*
 * timeutil.h - calendar dates as YYYYMMDD integers, without timegm().
 * Parsing a mail date (pv_date_parse) is the domain's: stampd/indicium.h.
 */
#ifndef STAMPD_TIMEUTIL_H
#define STAMPD_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* pv_now - current unix time in seconds; pv_now_ms - in milliseconds. */
int64_t pv_now(void);
int64_t pv_now_ms(void);

/* pv_mono_ms - milliseconds on the monotonic clock: for timeouts and ages, never dates;
 * pv_mono_us - microseconds on it: for durations. */
int64_t pv_mono_ms(void);
int64_t pv_mono_us(void);

/* pv_date_from_unix - UTC calendar date of unix time t as YYYYMMDD. */
uint32_t pv_date_from_unix(int64_t t);

/* pv_date_to_unix - unix time of 00:00:00 UTC on a valid date YYYYMMDD. */
int64_t pv_date_to_unix(uint32_t yyyymmdd);

/*
 * pv_date_add_days - YYYYMMDD plus days (may be negative). The input must
 * be a valid date (pv_date_valid).
 */
uint32_t pv_date_add_days(uint32_t yyyymmdd, int days);

/* pv_date_format - "YYYY-MM-DD" into buf (borrowed, >= 11 bytes). */
char *pv_date_format(uint32_t yyyymmdd, char *buf, size_t n);

/* pv_time_format - RFC 3339 UTC "2026-11-22T01:02:03Z" into buf (>= 21). */
char *pv_time_format(int64_t t, char *buf, size_t n);

#endif
