/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ISO 7816-4 secure messaging with AES-128 and AES-CMAC, as the SmartCard-HSM
 * runs it after chip authentication (reference §5.5-5.8). One context type
 * serves both ends: the host protects commands and unprotects responses, the
 * card (simulator) unprotects commands and protects responses.
 *
 * Send sequence counter: a 128-bit big-endian SSC, 0 after the handshake,
 * incremented before every message in either direction (command SSC=1, its
 * response SSC=2, ...). Both ends therefore stay in step only as long as
 * every message is processed exactly once.
 *
 * Failure is final: once wrapping or unwrapping has failed (bad MAC, missing
 * DO, plain answer, bad padding, replay, malformed bytes, or an internal error
 * after the SSC moved), the context is spent and every further call fails with
 * SMK_E_SM. The only way on is a new chip authentication, which yields a new
 * context. Argument errors detected before anything changed (SMK_E_ARG) leave
 * the context usable.
 *
 * Keys and the SSC never appear in error messages; smsg_free wipes them.
 */
#ifndef SMK_SMSG_H
#define SMK_SMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "apdu.h"

#define SMSG_KEY_LEN 16 /* AES-128 */
#define SMSG_BLOCK 16	/* AES block; also the SSC width */
#define SMSG_MAC_LEN 8	/* DO8E carries the first 8 bytes of the CMAC */

typedef struct smsg_ctx smsg_ctx;

/* A fresh session (SSC = 0) with copies of the two session keys. */
smsg_ctx *smsg_new(const uint8_t k_enc[SMSG_KEY_LEN], const uint8_t k_mac[SMSG_KEY_LEN],
		   smk_err *e);
/* Wipe the keys and release the context; NULL is fine. */
void smsg_free(smsg_ctx *c);
/* False once the session has failed (see above). */
bool smsg_usable(const smsg_ctx *c);

/* First 8 bytes of AES-CMAC(key, in): the MAC of DO8E and of the chip
 * authentication token (reference §5.4). */
int smsg_cmac8(const uint8_t key[SMSG_KEY_LEN], const uint8_t *in, size_t n,
	       uint8_t mac[SMSG_MAC_LEN], smk_err *e);

/* Host: protect a plain command and append the protected APDU to out
 * (reference §5.6). Even INS carries data in DO87 (with the 01 indicator),
 * odd INS in DO85; Le becomes DO97; the protected APDU always ends in Le'
 * and is extended when the plain one was or its body exceeds 255 bytes.
 * The plain CLA must not already carry the SM bits 0x0C. */
int smsg_wrap_command(smsg_ctx *c, const apdu *plain, smk_buf *out, smk_err *e);

/* Bytes of the protected APDU smsg_wrap_command makes of plain (ref §5.6,
 * §7.12): the size a card's APDU buffer must take. */
size_t smsg_command_size(const apdu *plain);

/* Host: unprotect a response (data and SW1 SW2, reference §5.7). On success
 * the decrypted data are appended to data (left untouched on failure) and
 * *sw is the status word from DO99; the outer status word is never used.
 * A response without DO99 and DO8E is a plain answer: SMK_E_SM with e->sw
 * set to the plain status word. */
int smsg_unwrap_response(smsg_ctx *c, const uint8_t *resp, size_t n, smk_buf *data, uint16_t *sw,
			 smk_err *e);

/* Card: does this command APDU announce secure messaging (CLA bits 0x0C)?
 * A plain APDU while a session exists is the caller's business (genuine
 * firmware ends the session, reference §5.8). */
bool smsg_command_is_protected(const uint8_t *cmd, size_t n);

/* Card: verify and decrypt a protected command. *plain receives the original
 * command (CLA without 0x0C, Le from DO97, extended = the protected APDU was
 * extended); plain->data points into data, which is reset, marked secret
 * (PINs travel here) and filled, so data must outlive the use of *plain. */
int smsg_unwrap_command(smsg_ctx *c, const uint8_t *cmd, size_t n, apdu *plain, smk_buf *data,
			smk_err *e);

/* Card: protect a response and append DO87 (when there are data), DO99,
 * DO8E and the outer status word 9000 to out. */
int smsg_wrap_response(smsg_ctx *c, const uint8_t *data, size_t len, uint16_t sw, smk_buf *out,
		       smk_err *e);

#endif
