/*
 * store_indicium.h - the part of the store interface (store.h, which includes
 * it; include store.h, never this) for a stored piece: struct pv_indicium_rec,
 * whose optional texts (addresses, metadata) are owned strings (issue 15: a
 * purchase in flight carries a record, and most pieces have none of them).
 */
#ifndef STAMPD_STORE_INDICIUM_H
#define STAMPD_STORE_INDICIUM_H

#define PV_METADATA_MAX 11264 /* a piece's metadata, text (metadata.h bounds it) */

struct pv_indicium_rec {
    char id[PV_ID_MAX]; /* "ind_..." */
    char customer_id[PV_ID_MAX];
    char server_id[PV_ID_MAX]; /* processor that signed it */
    int64_t created;
    int64_t presentations; /* times presented to POST /v1/verify */
    int64_t prints;        /* times rendered as a label (reprints are free) */
    char *from_address;    /* optional texts: see below */
    char *to_address;
    int64_t refunded_at;                  /* schema v4: 0, or when its refund was approved */
    char medium_sheet[PV_MEDIUM_MAX + 1]; /* v15: the sheet serial of a medium piece, or "" */
    uint32_t medium_label;                /* v15: its label number on the sheet (1..), or 0 */
    uint8_t services;                     /* v16 (rates.h): PV_SVC_*; postage_mills is the total */
    int zone;                             /* a parcel's zone 1-9, else 0 */
    char rate_version[48];                /* the table that priced it ("" before v16) */
    pv_mills surcharge_mills;             /* non-machinable surcharge */
    pv_mills certified_mills;             /* Certified Mail fee */
    pv_mills return_receipt_mills;        /* Return Receipt fee */
    struct pv_indicium ind;               /* decoded fields (as signed) */
    uint8_t data[PV_INDICIUM_MAX];        /* the whole signed indicium */
    size_t data_len;
    /* schema v17: the buyer's metadata as "key=value\n" lines (domain/metadata.h) */
    char *metadata;
    /* The optional texts - the addresses, printed on envelopes and not signed,
     * and the metadata - are owned strings, NULL when none (never ""), each
     * shorter than PV_ADDRESS_MAX / PV_METADATA_MAX: most pieces have none, and
     * every purchase in flight carries a record (~13 KiB of empty arrays when
     * they were arrays). pv_indicium_rec_clear frees them; a copy of the struct
     * shares them (copy the texts with pv_text_set). */
};

/* pv_text - an optional text as a string: s, or "" for NULL (borrowed). */
static inline const char *pv_text(const char *s)
{
    return s ? s : "";
}
/* pv_indicium_rec_clear - frees rec's texts (NULL after). NULL rec: no-op. */
void pv_indicium_rec_clear(struct pv_indicium_rec *rec);
/* pv_indicium_recs_free - clears n records and frees the array (a list's *out). */
void pv_indicium_recs_free(struct pv_indicium_rec *recs, size_t n);
/*
 * pv_text_set - *dst (owned, freed here) becomes an owned copy of s, or NULL
 * when s is NULL or "". Borrows s (which may be *dst itself). PV_OK or PV_ENOMEM
 * (*dst unchanged).
 */
int pv_text_set(char **dst, const char *s);

#endif
