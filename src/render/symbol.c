/*
 * symbol.c - the DataMatrix ECC200 symbol of an indicium's signed bytes,
 * encoded with libzint. The only file that includes zint.h: the rest of
 * src/render sees the symbol as a matrix of dark and light modules
 * (struct symbol) and decides itself how big a module is and where it goes.
 */
#include "render/render_int.h"

#include "stampd/error.h"

#include <zint.h>

#include <limits.h>
#include <stdlib.h>

/* pv_symbol_free - see render_int.h. */
void pv_symbol_free(struct symbol *s)
{
    free(s->dark);
    s->dark = NULL;
}

/* pv_symbol_encode - see render_int.h. Copies the module matrix out of
 * libzint, so no zint type leaves this file. */
int pv_symbol_encode(const uint8_t *data, size_t len, struct symbol *out)
{
    struct zint_symbol *zs = NULL;
    int rc, r, c, err = PV_OK;

    out->dark = NULL;
    if (len == 0 || len > INT_MAX)
        return PV_EINVAL;
    zs = ZBarcode_Create();
    if (!zs)
        return PV_ENOMEM;
    zs->symbology = BARCODE_DATAMATRIX;
    zs->input_mode = DATA_MODE;
    zs->option_3 = DM_SQUARE;
    rc = ZBarcode_Encode(zs, data, (int) len);
    if (rc >= ZINT_ERROR) {
        /* More bytes than the largest DataMatrix holds is the caller's. */
        err = rc == ZINT_ERROR_TOO_LONG ? PV_EINVAL : PV_EINTERNAL;
        goto out;
    }
    if (zs->rows < 10 || zs->width < 10 || zs->rows > 144 || zs->width > 144) {
        err = PV_EINTERNAL;
        goto out;
    }
    out->rows = zs->rows;
    out->cols = zs->width;
    out->dark = malloc((size_t) out->rows * (size_t) out->cols);
    if (!out->dark) {
        err = PV_ENOMEM;
        goto out;
    }
    for (r = 0; r < out->rows; r++)
        for (c = 0; c < out->cols; c++)
            out->dark[r * out->cols + c] = (zs->encoded_data[r][c >> 3] >> (c & 7)) & 1;
out:
    ZBarcode_Delete(zs);
    return err;
}
