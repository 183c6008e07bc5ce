/*
 * cli_stamp.c - src/cli/stamp.c for the fuzz target fuzz_cli, with its
 * main renamed so that the option helpers it defines (cli_parse_opts,
 * cli_usage_error, cli_need_key) link beside libFuzzer's or the replay's
 * main.
 */
#define main pv_stamp_main
#include "cli/stamp.c"
