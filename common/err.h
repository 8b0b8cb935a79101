/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One error convention for the whole code base: functions return 0 on
 * success and -1 on failure, and fill a caller-owned smk_err with a code and a
 * message that names the thing and the place ("device chain: DICA
 * DEDINK0400001: signature does not verify"). Context is prepended as the
 * error travels up, so the final message reads outermost-first.
 *
 * Messages never contain secrets (PIN, session keys): callers describe what
 * failed, not the data that failed.
 */
#ifndef SMK_ERR_H
#define SMK_ERR_H

#include <stdint.h>

enum smk_errc {
	SMK_OK = 0,
	SMK_E_ARG,	   /* the caller passed something invalid */
	SMK_E_NOMEM,	   /* allocation failed */
	SMK_E_FORMAT,	   /* malformed bytes: truncated, bad length, unexpected tag */
	SMK_E_UNSUPPORTED, /* well formed, but not something we handle (unknown curve) */
	SMK_E_SIGNATURE,   /* a signature does not verify */
	SMK_E_TRUST,	   /* a chain does not reach a pinned trust anchor */
	SMK_E_VALIDITY,	   /* not valid at the given time */
	SMK_E_MISMATCH,	   /* CHR/CAR/key/role differs from what it must be */
	SMK_E_CARD,	   /* the card answered with an error status word (see sw) */
	SMK_E_SM,	   /* secure messaging failed: bad MAC, missing DO, plain answer */
	SMK_E_IO,	   /* transport, file or socket */
	SMK_E_CRYPTO,	   /* OpenSSL failed */
	SMK_E_POLICY,	   /* a policy file or request does not hold */
	SMK_E_DENIED,	   /* not authorised */
	SMK_E_TIMEOUT,	   /* no answer in time */
	SMK_E_RESET,	   /* the card was reset or removed: session state is gone */
	SMK_E_LABEL,	   /* a key label the request gave that the policy refuses */
	SMK_ERRC_COUNT,	   /* not a code: how many there are */
};

typedef struct smk_err {
	enum smk_errc code;
	uint16_t sw; /* status word for SMK_E_CARD (and SM failures reported by the card) */
	char msg[512];
} smk_err;

/* Set code and message; returns -1 so callers can write `return smk_fail(...)`.
 * e may be NULL. */
int smk_fail(smk_err *e, enum smk_errc code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepend "context: " to the message already in e; returns -1. */
int smk_context(smk_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Reset e to SMK_OK with an empty message. */
void smk_err_clear(smk_err *e);

/* Short stable name of a code ("format", "signature", ...), for reports. */
const char *smk_errc_name(enum smk_errc code);

#endif
