/*
 * metadata.c - `--metadata key=value` of `stamp buy` (repeatable: the
 * purchase's metadata map) and `stamp list` (one: the search), taken out of
 * a command's arguments before cli_parse_opts, which keeps one value per
 * option. The server checks the bounds (docs/api.md, "Metadata").
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_metadata_opts(const char *cmd, int *argc, char **argv, json_t **out)
{
    int i, kept = 0, only_pos = 0;
    const char *pair, *eq;
    char key[64];

    *out = NULL;
    for (i = 0; i < *argc; i++) {
        pair = NULL;
        if (!only_pos && strcmp(argv[i], "--") == 0)
            only_pos = 1;
        else if (!only_pos && strcmp(argv[i], "--metadata") == 0) {
            if (i + 1 >= *argc)
                goto usage;
            pair = argv[++i];
        } else if (!only_pos && strncmp(argv[i], "--metadata=", 11) == 0)
            pair = argv[i] + 11;
        if (!pair) {
            argv[kept++] = argv[i];
            continue;
        }
        eq = strchr(pair, '=');
        if (!eq || eq == pair || (size_t) (eq - pair) >= sizeof key)
            goto usage;
        memcpy(key, pair, (size_t) (eq - pair));
        key[eq - pair] = '\0';
        if ((!*out && !(*out = json_object())) ||
            json_object_set_new(*out, key, json_string(eq + 1)) != 0) {
            json_decref(*out);
            *out = NULL;
            return cli_usage_error(cmd, "--metadata values must be valid UTF-8");
        }
    }
    *argc = kept;
    return RC_OK;
usage:
    json_decref(*out);
    *out = NULL;
    return cli_usage_error(cmd, "--metadata takes KEY=VALUE (a key of a-z, 0-9, _ and -)");
}
