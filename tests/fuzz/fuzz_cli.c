/*
 * fuzz_cli.c - what the stamp CLI reads from its user: the keys file of
 * `stamp verify --offline --keys FILE` (a GET /v1/keys document, or a PEM
 * key with any text before it) and the indicium given to verify (base64,
 * line-wrapped or not), and the option values --weight, --start, --offset,
 * --from-address/--to-address, printer and key names and --idempotency-key.
 *
 * The keys file and input functions are static in src/cli/verify.c, so this
 * file compiles that file in (#include); the rest of the CLI is linked
 * (FUZZ_cli_SOURCES, with stamp.c's main renamed by tests/fuzz/cli_stamp.c).
 *
 * The first byte of the input picks the parser, the rest is its text (a
 * NUL ends it early, as on a command line): 0 keys file, 1 indicium base64,
 * 2 weight, 3 start, 4 offset, 5 address, 6 names and idempotency key.
 * The keys file is written to a file under TMPDIR and read back by the CLI's
 * own keyring_load; a keyring that loads then checks a well-formed indicium
 * of license PV-TEST-1 and key id 1 with an all-zero signature offline
 * (pv_verify_offline): whatever the keys, no crash and no valid verdict.
 *
 * Properties: a weight is 0.1-999.9 oz; a start is within the grid; an
 * offset within +-10 mm formats back to itself; an unescaped address is no
 * longer than its input, and an accepted one has 1-6 lines of printable
 * text; an accepted name or idempotency key has only allowed characters.
 */
#include "fuzz.h"

#include "cli/verify.c"

#include <unistd.h>

static char keys_path[256];

static void check_keys(const uint8_t *data, size_t size)
{
    static uint8_t ind[PV_INDICIUM_MAX];
    static size_t ind_len;
    struct keyring kr;
    struct pv_verdict v;
    FILE *f;

    if (!keys_path[0]) {
        /* A well-formed indicium of license PV-TEST-1, key 1, whose
         * signature (all zero) no key verifies. */
        struct pv_indicium x = {.version = PV_INDICIUM_V1,
                                .sig_alg = PV_SIGALG_P256_SHA256,
                                .license = "PV-TEST-1",
                                .device_id = 1,
                                .key_id = 1,
                                .serial = 1,
                                .postage_mills = 740,
                                .mail_date = 20261204,
                                .mail_class = 1,
                                .weight_tenth_oz = 10,
                                .from_zip = "94107",
                                .to_zip = "10001",
                                .software_id = PV_SOFTWARE_ID};
        const char *tmp = getenv("TMPDIR");
        int fd;

        if (pv_indicium_encode(&x, ind, sizeof ind, &ind_len) != PV_OK)
            abort();

        snprintf(keys_path, sizeof keys_path, "%s/fuzz_cli-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if ((fd = mkstemp(keys_path)) < 0)
            abort();
        close(fd);
    }
    if (!(f = fopen(keys_path, "wb")) || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    memset(&kr, 0, sizeof kr);
    if (keyring_load(keys_path, &kr) == RC_OK) {
        FUZZ_CHECK(kr.set.keys != NULL);
        FUZZ_CHECK(kr.set.license || kr.set.n == 1);
        pv_verify_offline(ind, ind_len, &kr.set, &v);
        FUZZ_CHECK(!v.valid);
    }
    keyring_free(&kr);
}

static void check_input(const char *text)
{
    struct input in;
    char *b64 = strip_space(text);

    FUZZ_CHECK(b64 != NULL);
    FUZZ_CHECK(strlen(b64) <= strlen(text));
    memset(&in, 0, sizeof in);
    if (input_from_b64(&in, b64) == RC_OK && in.bytes) {
        char *again = pv_base64_encode(in.bytes, in.len);

        FUZZ_CHECK(again && strcmp(again, b64) == 0); /* only the canonical spelling decodes */
        free(again);
    }
    input_free(&in);
}

static void check_options(int which, const char *text)
{
    uint32_t tenths, row, col;
    int32_t x, y;
    char buf[32], back[80];
    const char *why = NULL;
    char *addr;
    size_t i;

    switch (which) {
    case 2:
        if (cli_parse_weight(text, &tenths) == 0)
            FUZZ_CHECK(tenths >= 1 && tenths <= 99999);
        break;
    case 3:
        if (cli_parse_start(text, &row, &col) == 0)
            FUZZ_CHECK(row >= 1 && row <= CLI_GRID_MAX && col >= 1 && col <= CLI_GRID_MAX);
        break;
    case 4:
        if (cli_parse_offset(text, &x, &y) == 0) {
            int32_t x2, y2;

            FUZZ_CHECK(x >= -CLI_OFFSET_MAX && x <= CLI_OFFSET_MAX);
            FUZZ_CHECK(y >= -CLI_OFFSET_MAX && y <= CLI_OFFSET_MAX);
            cli_format_mm(x, buf, sizeof buf);
            snprintf(back, sizeof back, "%s,", buf);
            cli_format_mm(y, buf, sizeof buf);
            strncat(back, buf, sizeof back - strlen(back) - 1);
            FUZZ_CHECK(cli_parse_offset(back, &x2, &y2) == 0 && x2 == x && y2 == y);
        }
        break;
    case 5:
        addr = cli_unescape_text(text);
        FUZZ_CHECK(addr != NULL && strlen(addr) <= strlen(text));
        if (cli_check_address(addr, &why) == 0) {
            size_t lines = 1;

            for (i = 0; addr[i]; i++) {
                FUZZ_CHECK(addr[i] == '\n' || ((unsigned char) addr[i] >= 0x20 && addr[i] != 0x7f));
                lines += addr[i] == '\n';
            }
            FUZZ_CHECK(lines >= 1 && lines <= CLI_ADDRESS_LINES);
        } else {
            FUZZ_CHECK(why != NULL);
        }
        free(addr);
        break;
    default:
        if (cli_valid_name(text, 32))
            for (i = 0; text[i]; i++)
                FUZZ_CHECK(i < 32 &&
                           (strchr("._-", text[i]) || (text[i] >= '0' && text[i] <= '9') ||
                            ((text[i] | 0x20) >= 'a' && (text[i] | 0x20) <= 'z')));
        if (cli_check_idem_key(text) == 0)
            FUZZ_CHECK(strlen(text) >= 1 && strlen(text) <= CLI_IDEM_KEY_MAX);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    int which;

    if (size < 1)
        return 0;
    which = data[0] % 7;
    if (which == 0) {
        check_keys(data + 1, size - 1);
        return 0;
    }
    text = fuzz_text(data + 1, size - 1);
    if (which == 1)
        check_input(text);
    else
        check_options(which, text);
    free(text);
    return 0;
}
