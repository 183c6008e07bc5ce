/*
 * h_auth.h - who the caller is: authentication, sessions, the account and
 * API keys (h_auth.c).
 */
#ifndef STAMPD_H_AUTH_H
#define STAMPD_H_AUTH_H

#include "server/app.h"
#include "server/reply.h"
#include "store/store.h"

/*
 * pv_auth_authenticate - who is calling: a Bearer API key, or the session
 * cookie (with X-CSRF-Token on every state change). Failed attempts count
 * against the source's rate limit. Returns PV_OK with *who filled, or the
 * error with rp set (401, 403 csrf_failed, 429 rate_limited). All borrowed.
 */
int pv_auth_authenticate(struct pv_app *app, struct pv_store *st, const struct pv_request *rq,
                         struct pv_principal *who, struct pv_reply *rp);

/* Route handlers (routes.c): sign-up, login, logout, session, account, API keys,
 * the caller's sessions. */
void pv_h_signup(struct pv_call *c);
void pv_h_login(struct pv_call *c);
void pv_h_logout(struct pv_call *c);
void pv_h_session(struct pv_call *c);
void pv_h_account(struct pv_call *c);
void pv_h_api_keys(struct pv_call *c);
void pv_h_sessions(struct pv_call *c);

#endif
