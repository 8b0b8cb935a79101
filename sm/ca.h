/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Chip authentication (TR-03110 CA version 2) with the device authentication
 * key, protocol id-CA-ECDH-AES-CBC-CMAC-128, as the SmartCard-HSM runs it
 * (reference §5.2-5.4). Both ends live here: the host (ca_host_*) proves
 * nothing and learns that the device holds PrK.DevAut; the card side
 * (ca_card_*, used by the simulator) answers the handshake. Either end ends
 * with an smsg_ctx holding K_enc, K_mac and SSC = 0.
 *
 * The building blocks (ECDH, KDF, token) are public so that tests can check
 * every intermediate value of the worked example (§5.11).
 */
#ifndef SMK_CA_H
#define SMK_CA_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "apdu.h"
#include "curves.h"
#include "smsg.h"

#define CA_NONCE_LEN 8
#define CA_TOKEN_LEN 8

/* Content octets of id-CA-ECDH-AES-CBC-CMAC-128 (0.4.0.127.0.7.2.2.3.2.2). */
extern const uint8_t ca_protocol_oid[10];

/* MSE:SET AT selecting the CA protocol: 00 22 41 A4 0C 80 0A <oid>. The
 * data point to static storage. */
void ca_mse_set_at(apdu *out);

/* EC key pair from a big-endian private scalar d (1 <= d < order), on one of
 * the supported curves. For injecting fixed keys in tests and the simulator. */
int ca_key_from_private(const smk_curve *curve, const uint8_t *d, size_t d_len, EVP_PKEY **out,
			smk_err *e);

/* The supported curve a key lies on; NULL and SMK_E_UNSUPPORTED otherwise. */
const smk_curve *ca_key_curve(EVP_PKEY *key, smk_err *e);

/* Uncompressed public point 04||x||y of key, appended to out. */
int ca_key_public(EVP_PKEY *key, smk_buf *out, smk_err *e);

/* K = x-coordinate of own_private * peer_point, at full field length,
 * appended to k (marked secret). The peer point must be an uncompressed
 * point on own's curve; anything else fails. */
int ca_ecdh(EVP_PKEY *own, const uint8_t *peer_point, size_t peer_len, smk_buf *k, smk_err *e);

/* ref §5.3: first 16 bytes of SHA-1(K || r || counter), counter 1 = K_enc,
 * 2 = K_mac. */
int ca_kdf(const uint8_t *k, size_t k_len, const uint8_t nonce[CA_NONCE_LEN], uint32_t counter,
	   uint8_t out[SMSG_KEY_LEN], smk_err *e);

/* ref §5.4: 7F49 { 06 0A <CA OID>, 86 <host ephemeral point> }, appended. */
int ca_token_input(const uint8_t *host_point, size_t point_len, smk_buf *out, smk_err *e);

/* T = first 8 bytes of AES-CMAC(K_mac, token input). */
int ca_token(const uint8_t k_mac[SMSG_KEY_LEN], const uint8_t *host_point, size_t point_len,
	     uint8_t token[CA_TOKEN_LEN], smk_err *e);

/* ---- host side ---- */

typedef struct ca_host ca_host;

/* Start chip authentication against the device public point Q_dev
 * (uncompressed, on curve, as found in tag 86 of the device certificate).
 * The ephemeral key is random, unless fixed_d (a private scalar) is given. */
int ca_host_new(const smk_curve *curve, const uint8_t *q_dev, size_t q_dev_len,
		const uint8_t *fixed_d, size_t fixed_d_len, ca_host **out, smk_err *e);
/* Wipes the ephemeral key; NULL is fine. */
void ca_host_free(ca_host *h);

/* The host's ephemeral public point Q_h (valid while h lives). */
const uint8_t *ca_host_point(const ca_host *h, size_t *len);

/* GENERAL AUTHENTICATE: 00 86 00 00 Lc 7C L 80 L Q_h 00. The data point into h. */
void ca_host_ga(const ca_host *h, apdu *out);

/* Check the GA response data (7C { 81 nonce, 82 token }, without SW),
 * derive the session keys and verify the token. A token that does not match
 * fails with SMK_E_SM; a malformed response with SMK_E_FORMAT. On success
 * *out is a new SM session (SSC 0). The ephemeral key is wiped either way:
 * one handshake per ca_host. */
int ca_host_finish(ca_host *h, const uint8_t *resp, size_t n, smsg_ctx **out, smk_err *e);

/* ---- card side ---- */

/* Check an MSE:SET AT command: P1 41, P2 A4 and data exactly 80 0A <CA OID>. */
int ca_card_check_mse(const apdu *cmd, smk_err *e);

/* Answer GENERAL AUTHENTICATE: parse the command data (7C { 80 Q_h }) with
 * the device private key, pick the nonce (random, or fixed_nonce for tests),
 * derive the keys, and append the response data 7C { 81 r, 82 T } to resp
 * (the caller adds the status word). On success *out is the card's SM
 * session (SSC 0). */
int ca_card_respond(EVP_PKEY *device_key, const uint8_t *ga_data, size_t n,
		    const uint8_t *fixed_nonce, smk_buf *resp, smsg_ctx **out, smk_err *e);

#endif
