/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The elliptic curves smkeyd knows. CV certificates and GAKP carry curves as
 * explicit domain parameters (tags 81..85, 87; TR-03110 part 3 D.3); this
 * table maps them to named curves and back. The parameter bytes come from
 * OpenSSL's own curve definitions, so nothing here is typed in by hand.
 */
#ifndef SMK_CURVES_H
#define SMK_CURVES_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

typedef struct smk_curve {
	const char *name;    /* our canonical name: "secp256r1", "brainpoolP256r1" */
	const char *alias;   /* another common name ("prime256v1", "P-256"), or NULL */
	int nid;	     /* OpenSSL NID */
	unsigned field_bits; /* size of p in bits (521 for secp521r1) */
	size_t field_len;    /* bytes of p, a, b and each coordinate */
	size_t order_len;    /* bytes of the order r: half an ECDSA plain signature */
} smk_curve;

/* Explicit parameters in the encoding the card uses: every value left-padded
 * to field length (order to order length), G and points uncompressed. */
typedef struct smk_curve_params {
	uint8_t p[66], a[66], b[66], g[1 + 2 * 66], r[66];
	size_t field_len, g_len, order_len;
	uint8_t cofactor;
} smk_curve_params;

/* All supported curves; *n receives the count. */
const smk_curve *curve_list(size_t *n);
/* By canonical name or alias (case-insensitive); NULL if unknown. */
const smk_curve *curve_by_name(const char *name);
const smk_curve *curve_by_nid(int nid);

int curve_params(const smk_curve *c, smk_curve_params *out, smk_err *e);

/* Match explicit parameters (values as found in a CVC: leading zeros may or
 * may not be present) to a supported curve. g is the uncompressed base point.
 * Fails with SMK_E_UNSUPPORTED naming the field size when nothing matches. */
const smk_curve *curve_match(const uint8_t *p, size_t p_len, const uint8_t *a, size_t a_len,
			     const uint8_t *b, size_t b_len, const uint8_t *g, size_t g_len,
			     const uint8_t *r, size_t r_len, smk_err *e);

#endif
