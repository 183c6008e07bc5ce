/*
 * password.h - passwords of customers and operators: argon2id (libargon2)
 * in its encoded form "$argon2id$v=19$m=...,t=...,p=...$salt$hash", so the
 * parameters travel with every hash and can be raised later without a
 * migration.
 */
#ifndef STAMPD_PASSWORD_H
#define STAMPD_PASSWORD_H

#include "store/store.h"

#define PV_PASSWORD_MIN 10
#define PV_PASSWORD_MAX 128

/*
 * pv_password_policy - PV_OK when password (borrowed, UTF-8) has
 * PV_PASSWORD_MIN..PV_PASSWORD_MAX characters, else PV_EPASSWORD.
 */
int pv_password_policy(const char *password);

/*
 * pv_password_hash - hash password (borrowed) with a fresh random salt into
 * out (PV_PWHASH_MAX bytes, NUL-terminated). Returns PV_OK, PV_EPASSWORD
 * (policy), PV_ECRYPTO (no randomness) or PV_EINTERNAL (argon2 failed).
 */
int pv_password_hash(const char *password, char out[PV_PWHASH_MAX]);

/*
 * pv_password_verify - PV_OK when password matches encoded (both borrowed),
 * PV_ELOGIN when not - also for an empty or malformed encoded hash, after
 * the same amount of work, so a missing account costs as much time as a
 * wrong password.
 */
int pv_password_verify(const char *password, const char *encoded);

#endif
