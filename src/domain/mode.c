/*
 * mode.c - the one rule of test and live (mode.h).
 */
#include "domain/mode.h"

#include "stampd/indicium.h"

int pv_mode_sees(int caller_test, int record_test)
{
    return (caller_test != 0) == (record_test != 0);
}

int pv_indicium_mode(const struct pv_indicium_rec *rec)
{
    return (rec->ind.flags & PV_IND_FLAG_TEST) != 0;
}

int pv_mode_filter(int caller_test, int asked, int *filter)
{
    *filter = caller_test != 0;
    return asked < 0 || pv_mode_sees(caller_test, asked);
}
