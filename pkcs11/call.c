/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The module's calls to smkeyd (p11.h): one connection per call, through
 * smkey's blocking varlink client, so the module keeps no socket across
 * fork() and a daemon restart costs nothing. smkeyd authorises by the
 * caller's uid on the socket (SO_PEERCRED); the module sends no secret.
 */
#include "p11.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/varlink_client.h"
#include "common/b64.h"
#include "common/show.h"
#include "varlink_errors.h"

/* A Sign may wait behind a key generation on the same device. */
#define P11_CALL_TIMEOUT_MS (5 * 60 * 1000)

void p11_debug(const char *fmt, ...)
{
	const char *d = getenv("SMKEY_PKCS11_DEBUG");
	va_list ap;

	if (!d || !*d || strcmp(d, "0") == 0)
		return;
	fputs("libsmkey-pkcs11: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* The daemon's error in PKCS#11 terms (docs/pkcs11.md, "Errors"). */
static CK_RV call_error(const char *method, const varlink_reply *r)
{
	const char *param = json_string_value(json_object_get(r->params, "parameter"));
	const char *reason = json_string_value(json_object_get(r->params, "reason"));
	CK_RV rv = CKR_FUNCTION_FAILED;

	if (strcmp(r->error, SMK_VERR_POLICY_DENIED) == 0)
		rv = CKR_FUNCTION_REJECTED;
	else if (strcmp(r->error, SMK_VERR_RECORD_NOT_FOUND) == 0)
		rv = CKR_KEY_HANDLE_INVALID;
	else if (strcmp(r->error, SMK_VERR_DEVICE_UNAVAILABLE) == 0)
		rv = CKR_DEVICE_ERROR;
	else if (strcmp(r->error, SMK_VERR_INVALID_PARAMETER) == 0)
		rv = param && strcmp(param, "algorithm") == 0 ? CKR_MECHANISM_INVALID
							      : CKR_DATA_LEN_RANGE;
	p11_debug("%s: %s: %s%s%s", method, smk_show(r->error), param ? smk_show(param) : "",
		  param ? " " : "", reason ? smk_show(reason) : "");
	return rv;
}

CK_RV p11_call(const char *method, json_t *in, json_t **msg, json_t **params)
{
	varlink_reply r;
	smk_err e;
	vlc c;
	int rc;

	*msg = NULL;
	*params = NULL;
	if (vlc_connect(&c, vlc_socket_path(NULL), &e) < 0) {
		p11_debug("%s", smk_show(e.msg));
		return CKR_DEVICE_ERROR;
	}
	rc = vlc_send(&c, method, in, 0, &e) < 0 ? -1
						 : vlc_recv(&c, P11_CALL_TIMEOUT_MS, msg, &r, &e);
	vlc_close(&c);
	if (rc <= 0) {
		p11_debug("%s: %s", method, rc == 0 ? "no reply in time" : smk_show(e.msg));
		return CKR_DEVICE_ERROR;
	}
	if (r.error) {
		CK_RV rv = call_error(method, &r);

		json_decref(*msg);
		*msg = NULL;
		return rv;
	}
	*params = r.params;
	return CKR_OK;
}

/* The card's ECDSA signature (DER) as PKCS#11's r||s, each n bytes. */
static CK_RV ecdsa_raw(const smk_buf *der, size_t n, uint8_t *out)
{
	const unsigned char *p = der->data;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)der->len);
	const BIGNUM *r, *ss;
	CK_RV rv = CKR_DEVICE_ERROR;

	if (!s || p != der->data + der->len)
		goto out;
	ECDSA_SIG_get0(s, &r, &ss);
	if (BN_bn2binpad(r, out, (int)n) != (int)n || BN_bn2binpad(ss, out + n, (int)n) != (int)n)
		goto out;
	rv = CKR_OK;
out:
	if (rv != CKR_OK)
		p11_debug("Sign: the signature is not an ECDSA signature of %zu-byte values", n);
	ECDSA_SIG_free(s);
	return rv;
}

CK_RV p11_sign_call(const p11_key *k, unsigned alg, int host_hashed, const uint8_t *in, size_t n,
		    uint8_t *sig)
{
	json_t *q, *msg, *params;
	const char *sb64, *used;
	smk_buf raw = SMK_BUF_INIT;
	size_t len = p11_sig_len(k);
	char *b64 = smk_b64(in, n);
	smk_err e;
	CK_RV rv;

	if (!b64)
		return CKR_HOST_MEMORY;
	q = json_pack("{sIssss}", "seq", (json_int_t)k->seq, "algorithm", p11_alg_name(alg),
		      host_hashed ? "digest" : "data", b64);
	free(b64);
	if (!q)
		return CKR_HOST_MEMORY;
	rv = p11_call("io.smkeyd.Sign", q, &msg, &params);
	json_decref(q);
	if (rv != CKR_OK)
		return rv;
	sb64 = json_string_value(json_object_get(params, "signature"));
	used = json_string_value(json_object_get(params, "algorithm"));
	rv = CKR_DEVICE_ERROR;
	if (!sb64 || smk_b64_decode(sb64, strlen(sb64), &raw, "signature", &e) < 0) {
		p11_debug("Sign: reply has no signature in base64");
		goto out;
	}
	if (k->ec) {
		/* the card hashed (ecdsa-sha256) or signed the host's hash (ecdsa):
		 * the same signature either way */
		if (!used || (strcmp(used, "ecdsa") != 0 && strcmp(used, "ecdsa-sha256") != 0)) {
			p11_debug("Sign: reply names algorithm %s",
				  used ? smk_show(used) : "(none)");
			goto out;
		}
		rv = ecdsa_raw(&raw, len / 2, sig);
	} else if (raw.len == 0 || raw.len > len) {
		p11_debug("Sign: %zu-byte signature from a %zu-byte modulus", raw.len, len);
	} else {
		/* RSA: the modulus' length, leading zeros kept */
		memset(sig, 0, len - raw.len);
		memcpy(sig + len - raw.len, raw.data, raw.len);
		rv = CKR_OK;
	}
out:
	smk_buf_free(&raw);
	json_decref(msg);
	return rv;
}
