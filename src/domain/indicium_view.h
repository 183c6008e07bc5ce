/*
 * indicium_view.h - the one JSON view of an indicium's fields, of a stored
 * indicium, and of a verification verdict, shared by the API (POST
 * /v1/verify, GET /v1/indicia/{id}) and `stamp verify --offline`, so that
 * what the server answers and what the CLI prints offline cannot drift.
 *
 * Mail classes are named by the one table in rates.c (pv_mail_class_name).
 * Every function returns an owned jansson object (json_decref) or NULL when
 * memory runs out; the arguments are borrowed.
 */
#ifndef STAMPD_INDICIUM_VIEW_H
#define STAMPD_INDICIUM_VIEW_H

#include "stampd/indicium.h"
#include "stampd/rates.h"
#include "store/store.h"

#include <jansson.h>

struct pv_verdict;
struct pv_jtext;

/*
 * pv_indicium_fields_json - the decoded, signed fields: version, license,
 * psd_id, key_id, serial, ascending_mills, postage_mills, mail_date
 * ("YYYY-MM-DD"), mail_class (name, "unknown" for a class the table lacks),
 * weight_oz, from_zip, to_zip ("10001-1234" with a +4), medium_serial (null
 * when none), software_id, test; and what only version 2 carries (null for
 * a version 1 piece): vendor_id, model_id, descending_mills, services (an
 * array of names), piece_id (hex, null when none), piece_indicium_id (the
 * "ind_..." id the piece id holds, null when it holds none).
 */
json_t *pv_indicium_fields_json(const struct pv_indicium *ind);

/*
 * pv_indicium_json - the public view of a stored indicium (object
 * "indicium"): its id, fields, server, creation, presentations, prints,
 * addresses, refunded flag and the signed bytes in base64 ("data"); its
 * format version and the version 2 fields as in pv_indicium_fields_json.
 */
json_t *pv_indicium_json(const struct pv_indicium_rec *r);

/*
 * pv_indicium_text - pv_indicium_json(r) (borrowed) written into t as the
 * API dumps it (json_text.h), the object left open: the caller may add
 * members and closes it (pv_jt_close(t, '}')). The same bytes as the
 * jansson view, without its allocations; a failure is t's (pv_jt_take).
 */
void pv_indicium_text(struct pv_jtext *t, const struct pv_indicium_rec *r);

/*
 * pv_verdict_json - the answer of POST /v1/verify for a verdict of
 * pv_verify_online (verify.h): valid, signature_valid, known, duplicate,
 * presented_before, presentations, counted, first_presentation (when the
 * postal authority counted: when and where the piece was first presented,
 * else null), status, reason, test, refunded and fields.
 */
json_t *pv_verdict_json(const struct pv_verdict *v);

/* pv_price_json - a price broken down (postage, surcharge, services, total,
 * each as dollars and mills, and the table's version): a new object. */
json_t *pv_price_json(const struct pv_rate_price *p);

/* pv_services_json - the extra services of services (PV_SVC_*) as a new
 * array of their names ("certified_mail", "return_receipt"). */
json_t *pv_services_json(uint8_t services);

/* pv_zip_display - "10001" or "10001-1234" from a stored ZIP (borrowed) into out. */
void pv_zip_display(const char *zip, char out[11]);

#endif
