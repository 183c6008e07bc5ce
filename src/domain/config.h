/*
 * config.h - the keys of the vendor settings kept in the store's config
 * table (pv_store_config_get/set), in one place.
 */
#ifndef STAMPD_DOMAIN_CONFIG_H
#define STAMPD_DOMAIN_CONFIG_H

#define PV_CFG_LICENSE         "license"
#define PV_CFG_REFILL          "refill_mills"
#define PV_CFG_GATEWAY         "gateway"         /* live card payments: "sandbox" or unset */
#define PV_CFG_CRYPTO          "crypto_module"   /* the module spec, "openssl:/abs/dir" */
#define PV_CFG_INTERNAL_SECRET "internal_secret" /* front <-> processor protocol secret */

#endif
