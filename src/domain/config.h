/*
 * config.h - the keys of the vendor settings kept in the store's config
 * table (pv_store_config_get/set), in one place.
 */
#ifndef STAMPD_DOMAIN_CONFIG_H
#define STAMPD_DOMAIN_CONFIG_H

#define PV_CFG_LICENSE "license"
#define PV_CFG_REFILL  "refill_mills"
#define PV_CFG_GATEWAY "gateway"       /* live card payments: "sandbox" or unset */
#define PV_CFG_CRYPTO  "crypto_module" /* the module spec, "openssl:/abs/dir" */
/* The vendor CA (issue 14, certs.h): the spec of the module that holds its
 * key, the key's reference in it, its certificate, the current CRL and the
 * CRL's number. */
#define PV_CFG_CA_MODULE     "ca_module"
#define PV_CFG_CA_KEY_REF    "ca_key_ref"
#define PV_CFG_CA_CERT       "ca_cert"
#define PV_CFG_CA_CRL        "ca_crl"
#define PV_CFG_CA_CRL_NUMBER "ca_crl_number"
/* The vendor CAs before the current one (stampd ca rotate): each one's
 * certificate followed by its last CRL, PEM blocks in pairs, oldest first. */
#define PV_CFG_CA_PREVIOUS "ca_previous"
/* Where stampd before issue 12 kept the front <-> processor secret, readable
 * by every database role and backup. Nothing writes it any more; stampd
 * migrate deletes it. The secret is now each host's (docs/operations.md). */
#define PV_CFG_OLD_INTERNAL_SECRET "internal_secret"

#endif
