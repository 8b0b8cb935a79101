/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The signer certificates of an Android APK, per signature scheme, so that
 * `smkey verify BUNDLE --apk FILE` can say whether each signer holds the
 * attested key.
 *
 *   v1    JAR signing: every META-INF/<name>.RSA, .EC or .DSA entry is a
 *         PKCS#7 SignedData; each SignerInfo's certificate (found by issuer
 *         and serial among the certificates it carries) is a signer. The
 *         ZIP is read with libzip.
 *   v2    APK Signature Scheme v2 (ID 0x7109871a), v3 (0xf05368c0) and
 *         v3.1 (0x1b93ad61): blocks in the APK Signing Block, the region
 *         right before the ZIP central directory, ending in the 24-byte
 *         footer (size, "APK Sig Block 42"). Each block is a length-prefixed
 *         sequence of signers; a signer's signed data holds its certificate
 *         sequence, whose first certificate is the signer's; the signer's
 *         public key field must be that certificate's key.
 *
 * Everything here is hostile input: every length is checked against what
 * is left before it is used, sizes are 64-bit, nothing recurses, and an
 * error names the structure and its offset in the file.
 *
 * Not checked: the signatures over the APK's content, and the signatures
 * in the signer blocks and the .SF files (apksigner verify does that). Only
 * who the signers are.
 */
#ifndef SMK_APK_H
#define SMK_APK_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

#define APK_BLOCK_V2 0x7109871aU
#define APK_BLOCK_V3 0xf05368c0U
#define APK_BLOCK_V31 0x1b93ad61U

/* Bounds on what one APK may hold, far above what apksigner writes. */
#define APK_SIGNERS_MAX 64	    /* signers in one APK, all schemes */
#define APK_V1_ENTRY_MAX (1u << 20) /* one META-INF signature block file */

enum apk_scheme {
	APK_V1 = 1,
	APK_V2,
	APK_V3,
	APK_V31,
	APK_SCHEME_END, /* not a scheme: one past the last */
};

typedef struct apk_signer {
	enum apk_scheme scheme;
	unsigned index;	      /* 1, 2, ... within its scheme */
	char where[160];      /* v1: the entry name; v2/v3: "offset N" of the signer */
	smk_buf cert;	      /* the signer certificate, DER */
	smk_buf spki;	      /* its SubjectPublicKeyInfo, DER */
	size_t ncerts;	      /* certificates in the signer's sequence (v1: in the PKCS#7) */
	char subject[256];    /* one line, as it reads (show it through smk_show) */
	char cert_sha256[65]; /* SHA-256 of the certificate DER, lower-case hex */
	char spki_sha256[65]; /* SHA-256 of the SPKI DER: apksigner's "public key
				 SHA-256 digest" */
} apk_signer;

typedef struct apk_signers {
	apk_signer *v;
	size_t n;
	int has_block;	       /* an APK Signing Block is there */
	uint64_t block_offset; /* where it starts (its first size field) */
	unsigned schemes;      /* bit (1 << scheme) for each scheme present */
} apk_signers;

#define APK_SIGNERS_INIT                                                                           \
	{                                                                                          \
		NULL, 0, 0, 0, 0                                                                   \
	}

/* The whole APK in memory: every scheme's signers, in the order v1 (entries
 * in central directory order), v2, v3, v3.1. An APK with none at all is not
 * an error here (schemes == 0). On failure out holds nothing. */
int apk_read_signers(const uint8_t *p, size_t n, apk_signers *out, smk_err *e);

/* The same on a file (mapped read-only, at most 4 GiB as ZIP without
 * ZIP64 allows). Messages do not repeat the path: the caller names it. */
int apk_read_file(const char *path, apk_signers *out, smk_err *e);

/* The APK Signing Block alone: p holds it from its leading size field to
 * the end of its magic; base is its offset in the file (for messages).
 * Appends the v2, v3 and v3.1 signers to out. */
int apk_parse_signing_block(const uint8_t *p, size_t n, uint64_t base, apk_signers *out,
			    smk_err *e);

/* One scheme block's value (the signer sequence) of block ID id. */
int apk_parse_scheme_block(uint32_t id, const uint8_t *p, size_t n, uint64_t base, apk_signers *out,
			   smk_err *e);

/* The signers of one v1 signature block file (PKCS#7 DER) named name. */
int apk_parse_v1_block(const char *name, const uint8_t *p, size_t n, apk_signers *out, smk_err *e);

void apk_signers_free(apk_signers *s);

/* "v1 (JAR signing)", "v2", "v3", "v3.1". */
const char *apk_scheme_name(enum apk_scheme s);

/* Whether the signer's certificate holds the key spki (DER compare of the
 * SubjectPublicKeyInfo). */
int apk_signer_holds(const apk_signer *s, const uint8_t *spki, size_t spki_len);

#endif
