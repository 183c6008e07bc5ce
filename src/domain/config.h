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
/* Where stampd before issue 12 kept the front <-> processor secret, readable
 * by every database role and backup. Nothing writes it any more; stampd
 * migrate deletes it. The secret is now each host's (docs/operations.md). */
#define PV_CFG_OLD_INTERNAL_SECRET "internal_secret"

#endif
