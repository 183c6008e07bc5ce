/*
 * replay.c - a main() for the fuzz targets of tests/fuzz when they are built
 * without libFuzzer (gcc, the normal ASan+UBSan test build): it feeds every
 * regular file of the corpus directories named on the command line, in name
 * order, to LLVMFuzzerTestOneInput, each in a heap buffer of exactly its own
 * size so that AddressSanitizer sees any read past the end.
 *
 * A crash, a sanitizer report or a failed check in the target ends the
 * process abnormally and fails the CTest test. Exits 1 as well when a
 * directory cannot be read or holds no input, so a corpus that went missing
 * does not pass unnoticed; 0 when every input ran. Prints one line per
 * directory: how many inputs ran.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Read the whole file path into an owned buffer of exactly its size (at
 * least one byte is allocated); *len gets the size. NULL on any error. */
static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n;

    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    if (!(buf = malloc(n > 0 ? (size_t) n : 1)))
        goto out;
    if (n > 0 && fread(buf, 1, (size_t) n, f) != (size_t) n) {
        free(buf);
        buf = NULL;
        goto out;
    }
    *len = (size_t) n;
out:
    fclose(f);
    return buf;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Run every regular file of dir; the number run, or -1 on an error. */
static long replay_dir(const char *dir)
{
    char **names = NULL, path[4096];
    size_t n = 0, cap = 0, i;
    struct dirent *e;
    struct stat sb;
    long ran = 0;
    DIR *d = opendir(dir);

    if (!d) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **grown = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *names);
            if (!grown) {
                ran = -1;
                break;
            }
            names = grown;
        }
        if (!(names[n] = strdup(e->d_name))) {
            ran = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n > 0)
        qsort(names, n, sizeof *names, by_name);
    for (i = 0; i < n && ran >= 0; i++) {
        uint8_t *buf;
        size_t len = 0;

        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (!(buf = read_file(path, &len))) {
            fprintf(stderr, "replay: cannot read %s\n", path);
            ran = -1;
            break;
        }
        LLVMFuzzerTestOneInput(buf, len);
        free(buf);
        ran++;
    }
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return ran;
}

int main(int argc, char **argv)
{
    int i, rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        long ran = replay_dir(argv[i]);
        if (ran <= 0) {
            fprintf(stderr, "replay: %s: %s\n", argv[i], ran == 0 ? "no input" : "failed");
            rc = 1;
            continue;
        }
        printf("replay: %s: %ld inputs, no crash\n", argv[i], ran);
    }
    return rc;
}
