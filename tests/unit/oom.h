/*
 * oom.h - allocation-failure injection for the test_oom_* suites, in the
 * manner of libuv's test-loop-oom and SQLite's malloc fault tests: fail the
 * n-th allocation of an operation, for n = 1, 2, ... until the operation
 * no longer allocates that many times, and check each run ends cleanly.
 *
 * How allocations are reached, without a hook in src/: the suites that use
 * this are linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * --wrap=strdup,--wrap=strndup,--wrap=free (CMakeLists.txt, OOM_TESTS), so
 * every call that stampd's own objects (the static libraries and the test)
 * make goes to the __wrap_ functions of oom.c. Calls made inside shared
 * libraries are not redirected by the linker; jansson's are routed here with
 * json_set_alloc_funcs (oom_init), SQLite's with SQLITE_CONFIG_MALLOC when
 * oom_init is asked to. OpenSSL, argon2, libc internals (fopen, opendir)
 * and cairo allocate outside the count. AddressSanitizer still sees every
 * block: the wrappers call the real malloc, which ASan intercepts at run
 * time, so LeakSanitizer checks the process at exit as usual.
 *
 * While counting, oom.c keeps the set of blocks it handed out and not yet
 * freed, so a run can show it freed everything it allocated (oom_result).
 */
#ifndef STAMPD_TEST_OOM_H
#define STAMPD_TEST_OOM_H

#include <stddef.h>

/* Route jansson (and SQLite when sqlite is non-zero) through the counter.
 * Call first, before any JSON value or store exists. */
void oom_init(int sqlite);

/* Start counting allocations; the fail_at-th one (1-based) and, when
 * sticky, every one after it returns NULL. fail_at 0 fails none. */
void oom_start(long fail_at, int sticky);

/* Stop counting and failing; the number of allocations seen since
 * oom_start (failed ones included). */
long oom_stop(void);

/* Pause (on 1) or resume (0) counting, failing and tracking, for the part
 * of an operation that only sets it up (a fresh store to provision). */
void oom_pause(int on);

/* Whether an allocation was failed since the last oom_start, and how many
 * blocks allocated since then are not freed yet. */
void oom_result(int *failed_one, long *live_blocks);

/* Print (stderr) the sizes of up to 10 blocks still live: a leak's clue. */
void oom_dump_live(void);

/*
 * The loop. op runs the operation once (and frees what it returns) and
 * gives its result code; after each run check, when not NULL, asserts
 * that the state is still consistent (and may retry the operation with
 * allocation working). For n = 1, 2, ...: op runs with the n-th
 * allocation failing (and, when sticky, the ones after it); it must
 * return PV_ENOMEM or one of the codes in also (a 0-terminated list, may
 * be NULL), or PV_OK once n is past its last allocation, which ends the
 * loop; it must free every block it allocated. op runs once before the
 * loop without failures, so that caches filled on first use are not
 * counted as leaks, and must succeed then. Returns the number of
 * allocations of a successful run. Fails the cmocka test otherwise.
 */
long oom_loop(const char *what, int (*op)(void *), void (*check)(void *), void *arg,
              const int *also, int sticky);

#endif
