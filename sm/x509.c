/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PKCS#10 requests and self-signed certificates signed in the HSM.
 *
 * OpenSSL builds the to-be-signed part (subject, key, extensions) and
 * encodes it; the card signs those bytes (or their hash); the signed
 * structure SEQUENCE { tbs, AlgorithmIdentifier, BIT STRING } is put
 * together here with the TLV writer and parsed back by OpenSSL, which then
 * verifies it with the key's public half. Nothing leaves this file that
 * OpenSSL has not verified.
 */
#include "x509.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/digest.h"
#include "alg.h"
#include "tlv.h"

/* A card answer longer than any RSA-4096 signature or DER ECDSA signature
 * is not a signature. */
#define SIG_MAX 1024
/* Certificate files: a chain of a few certificates at most. */
#define CERT_FILE_MAX (1u << 20)

/* What the card gets as SIGN input (ref §6.6). */
enum card_input {
	IN_MESSAGE,    /* the TBS bytes; the card hashes */
	IN_HASH,       /* SHA-256 of the TBS (ECDSA 70, RSA-PSS 40) */
	IN_DIGESTINFO, /* DER DigestInfo of the SHA-256 hash (RSA 30) */
	IN_PADDED,     /* the whole PKCS#1 v1.5 block (RSA raw 20) */
};

struct sigalg {
	uint8_t card_alg;
	enum smk_keytype type;
	enum card_input input;
	int md_nid;  /* the hash the signature is over */
	int sig_nid; /* the X.509 signature algorithm */
	const char *name;
};

/* In order of preference: card-hashed before host-hashed, SHA-256 first.
 * The first of each type is what an unrestricted key gets. SHA-1 and
 * SHA-224 are left out on purpose. */
static const struct sigalg sigalgs[] = {
    {0x73, SMK_KEY_EC, IN_MESSAGE, NID_sha256, NID_ecdsa_with_SHA256, "ecdsa-with-SHA256"},
    {0x74, SMK_KEY_EC, IN_MESSAGE, NID_sha384, NID_ecdsa_with_SHA384, "ecdsa-with-SHA384"},
    {0x75, SMK_KEY_EC, IN_MESSAGE, NID_sha512, NID_ecdsa_with_SHA512, "ecdsa-with-SHA512"},
    {0x70, SMK_KEY_EC, IN_HASH, NID_sha256, NID_ecdsa_with_SHA256, "ecdsa-with-SHA256"},
    {0x33, SMK_KEY_RSA, IN_MESSAGE, NID_sha256, NID_sha256WithRSAEncryption,
     "sha256WithRSAEncryption"},
    {0x43, SMK_KEY_RSA, IN_MESSAGE, NID_sha256, NID_rsassaPss, "RSASSA-PSS SHA-256"},
    {0x34, SMK_KEY_RSA, IN_MESSAGE, NID_sha384, NID_sha384WithRSAEncryption,
     "sha384WithRSAEncryption"},
    {0x44, SMK_KEY_RSA, IN_MESSAGE, NID_sha384, NID_rsassaPss, "RSASSA-PSS SHA-384"},
    {0x35, SMK_KEY_RSA, IN_MESSAGE, NID_sha512, NID_sha512WithRSAEncryption,
     "sha512WithRSAEncryption"},
    {0x45, SMK_KEY_RSA, IN_MESSAGE, NID_sha512, NID_rsassaPss, "RSASSA-PSS SHA-512"},
    {0x40, SMK_KEY_RSA, IN_HASH, NID_sha256, NID_rsassaPss, "RSASSA-PSS SHA-256"},
    {0x30, SMK_KEY_RSA, IN_DIGESTINFO, NID_sha256, NID_sha256WithRSAEncryption,
     "sha256WithRSAEncryption"},
    {0x20, SMK_KEY_RSA, IN_PADDED, NID_sha256, NID_sha256WithRSAEncryption,
     "sha256WithRSAEncryption"},
};

#define N_SIGALGS (sizeof(sigalgs) / sizeof(sigalgs[0]))

static int key_type(EVP_PKEY *pub, enum smk_keytype *type, smk_err *e)
{
	if (pub == NULL)
		return smk_fail(e, SMK_E_ARG, "X.509: no public key for the signer");
	if (EVP_PKEY_is_a(pub, "EC"))
		*type = SMK_KEY_EC;
	else if (EVP_PKEY_is_a(pub, "RSA"))
		*type = SMK_KEY_RSA;
	else
		return smk_fail(e, SMK_E_UNSUPPORTED, "X.509: %s key is neither EC nor RSA",
				EVP_PKEY_get0_type_name(pub));
	return 0;
}

/* "[ecdh, wrap]": the list by name, unknown bytes in hex. */
static void alg_list_text(const uint8_t *algs, size_t n, char *buf, size_t cap)
{
	size_t i, used = 0;

	used += (size_t)snprintf(buf, cap, "[");
	for (i = 0; i < n && used < cap; i++) {
		const smk_alg *a = alg_by_id(algs[i]);

		if (a != NULL)
			used += (size_t)snprintf(buf + used, cap - used, "%s%s", i ? ", " : "",
						 a->name);
		else
			used += (size_t)snprintf(buf + used, cap - used, "%s%02X", i ? ", " : "",
						 algs[i]);
	}
	if (used < cap)
		snprintf(buf + used, cap - used, "]");
}

static const struct sigalg *pick(const x509_signer *s, smk_err *e)
{
	char list[160], need[160];
	enum smk_keytype type = SMK_KEY_EC; /* set by key_type(); -O2 cannot see that */
	size_t i, j, used = 0;

	if (key_type(s->pub, &type, e) < 0)
		return NULL;
	if (s->alg_count > 0 && s->algs == NULL) {
		smk_fail(e, SMK_E_ARG, "X.509: algorithm list missing");
		return NULL;
	}
	for (i = 0; i < N_SIGALGS; i++) {
		if (sigalgs[i].type != type)
			continue;
		if (s->alg_count == 0)
			return &sigalgs[i];
		for (j = 0; j < s->alg_count; j++)
			if (s->algs[j] == sigalgs[i].card_alg)
				return &sigalgs[i];
	}
	need[0] = '\0';
	for (i = 0; i < N_SIGALGS && used < sizeof(need); i++)
		if (sigalgs[i].type == type)
			used += (size_t)snprintf(need + used, sizeof(need) - used, "%s%s",
						 used ? ", " : "",
						 alg_by_id(sigalgs[i].card_alg)->name);
	alg_list_text(s->algs, s->alg_count, list, sizeof(list));
	smk_fail(e, SMK_E_POLICY,
		 "the key's algorithm list %s allows no signature algorithm usable for X.509 "
		 "(%s key needs one of %s)",
		 list, type == SMK_KEY_EC ? "an EC" : "an RSA", need);
	return NULL;
}

int x509_pick_alg(const x509_signer *s, uint8_t *card_alg, char name[48], smk_err *e)
{
	const struct sigalg *a = pick(s, e);

	if (a == NULL)
		return -1;
	*card_alg = a->card_alg;
	snprintf(name, 48, "%s", a->name);
	return 0;
}

/* ---- subject ---- */

int x509_parse_subject(const char *subject, X509_NAME **out, smk_err *e)
{
	char type[64], value[1024];
	X509_NAME *name;
	size_t i = 0;

	*out = NULL;
	if (subject == NULL || subject[0] != '/')
		return smk_fail(e, SMK_E_ARG,
				"subject: position 1: must start with '/' (\"/CN=name/O=org\")");
	if (subject[1] == '\0')
		return smk_fail(e, SMK_E_ARG, "subject: empty");
	name = X509_NAME_new();
	if (name == NULL)
		return smk_fail(e, SMK_E_NOMEM, "subject: out of memory");
	/* '/' starts a new RDN; '+' adds to the one before (a multi-valued
	 * RDN, as OpenSSL 3's -subj reads it); "\/" and "\+" are literal */
	while (subject[i] == '/' || subject[i] == '+') {
		int same_rdn = subject[i] == '+';
		size_t at, t = 0, v = 0;
		int nid;

		at = ++i + 1; /* 1-based position of the attribute name */

		while (subject[i] != '\0' && subject[i] != '=' && subject[i] != '/' &&
		       subject[i] != '+') {
			if (t + 1 >= sizeof(type)) {
				smk_fail(e, SMK_E_ARG,
					 "subject: position %zu: attribute name too long", at);
				goto bad;
			}
			type[t++] = subject[i++];
		}
		type[t] = '\0';
		if (subject[i] != '=') {
			smk_fail(e, SMK_E_ARG, "subject: position %zu: \"%s\" has no '='", at,
				 type);
			goto bad;
		}
		if (t == 0) {
			smk_fail(e, SMK_E_ARG,
				 "subject: position %zu: attribute name missing before '='", at);
			goto bad;
		}
		nid = OBJ_txt2nid(type);
		if (nid == NID_undef) {
			smk_fail(e, SMK_E_ARG, "subject: position %zu: unknown attribute \"%s\"",
				 at, type);
			goto bad;
		}
		i++;
		while (subject[i] != '\0' && subject[i] != '/' && subject[i] != '+') {
			if (subject[i] == '\\') {
				if (subject[i + 1] == '\0') {
					smk_fail(e, SMK_E_ARG,
						 "subject: position %zu: '\\' at the end escapes "
						 "nothing",
						 i + 1);
					goto bad;
				}
				i++;
			}
			if (v + 1 >= sizeof(value)) {
				smk_fail(e, SMK_E_ARG,
					 "subject: position %zu: value of %s too long", at, type);
				goto bad;
			}
			value[v++] = subject[i++];
		}
		value[v] = '\0';
		if (v == 0) {
			smk_fail(e, SMK_E_ARG, "subject: position %zu: empty value for %s", at,
				 type);
			goto bad;
		}
		if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
						(const unsigned char *)value, (int)v, -1,
						same_rdn ? -1 : 0)) {
			unsigned long err = ERR_get_error();

			ERR_clear_error();
			smk_fail(e, SMK_E_ARG,
				 "subject: position %zu: value for %s not accepted (%s)", at, type,
				 err ? ERR_reason_error_string(err) : "invalid");
			goto bad;
		}
	}
	*out = name;
	return 0;
bad:
	X509_NAME_free(name);
	return -1;
}

/* ---- signing through the card ---- */

/* ref §6.6: what the card's SIGN takes for this algorithm. */
static int card_input(const struct sigalg *a, EVP_PKEY *pub, const uint8_t *tbs, size_t n,
		      smk_buf *in, smk_err *e)
{
	/* DER DigestInfo prefix for SHA-256 (RFC 8017 §9.2, note 1) */
	static const uint8_t di_sha256[] = {0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60,
					    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
					    0x01, 0x05, 0x00, 0x04, 0x20};
	uint8_t hash[32];
	unsigned hlen = sizeof(hash);
	size_t k, t = sizeof(di_sha256) + sizeof(hash);
	int r = 0;

	if (a->input == IN_MESSAGE)
		return smk_buf_add(in, tbs, n) < 0 ? smk_fail(e, SMK_E_NOMEM, "out of memory") : 0;
	if (EVP_Digest(tbs, n, hash, &hlen, EVP_sha256(), NULL) != 1)
		return smk_fail(e, SMK_E_CRYPTO, "SHA-256 failed");
	switch (a->input) {
	case IN_HASH:
		r = smk_buf_add(in, hash, sizeof(hash));
		break;
	case IN_DIGESTINFO:
		r = smk_buf_add(in, di_sha256, sizeof(di_sha256)) |
		    smk_buf_add(in, hash, sizeof(hash));
		break;
	case IN_PADDED:
		/* RFC 8017 §9.2: 00 01 FF..FF 00 DigestInfo, modulus length */
		k = (size_t)EVP_PKEY_get_size(pub);
		if (k < t + 11)
			return smk_fail(e, SMK_E_ARG, "RSA key too small for PKCS#1 v1.5 SHA-256");
		r = smk_buf_add_byte(in, 0x00) | smk_buf_add_byte(in, 0x01);
		while (r == 0 && in->len < k - t - 1)
			r = smk_buf_add_byte(in, 0xFF);
		r |= smk_buf_add_byte(in, 0x00) | smk_buf_add(in, di_sha256, sizeof(di_sha256)) |
		     smk_buf_add(in, hash, sizeof(hash));
		break;
	case IN_MESSAGE:
		break;
	}
	return r < 0 ? smk_fail(e, SMK_E_NOMEM, "out of memory") : 0;
}

static const uint8_t *hash_oid(int md_nid, size_t *n)
{
	/* 2.16.840.1.101.3.4.2.1 / .2 / .3 */
	static const uint8_t sha[3][9] = {
	    {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01},
	    {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02},
	    {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03},
	};

	*n = 9;
	return md_nid == NID_sha384 ? sha[1] : md_nid == NID_sha512 ? sha[2] : sha[0];
}

/* AlgorithmIdentifier { sha-N, NULL } */
static int put_hash_algid(smk_buf *b, int md_nid)
{
	size_t m, n;
	const uint8_t *oid = hash_oid(md_nid, &n);

	return tlv_begin(b, 0x30, &m) | tlv_put(b, 0x06, oid, n) | tlv_put(b, 0x05, NULL, 0) |
	       tlv_end(b, m);
}

/* RFC 4055 §3.1: id-RSASSA-PSS with hash sha-N, MGF1 with sha-N and a salt
 * of the hash length (what the card uses for 40..45). */
static X509_ALGOR *pss_algor(int md_nid, smk_err *e)
{
	static const uint8_t id_pss[] = {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0A};
	static const uint8_t id_mgf1[] = {0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x08};
	uint8_t salt = md_nid == NID_sha384 ? 48 : md_nid == NID_sha512 ? 64 : 32;
	smk_buf b = SMK_BUF_INIT;
	size_t m0, m1, m2, m3, m4, m5;
	const uint8_t *p;
	X509_ALGOR *alg = NULL;
	int r;

	r = tlv_begin(&b, 0x30, &m0) | tlv_put(&b, 0x06, id_pss, sizeof(id_pss)) |
	    tlv_begin(&b, 0x30, &m1);
	r |= tlv_begin(&b, 0xA0, &m2) | put_hash_algid(&b, md_nid) | tlv_end(&b, m2);
	r |= tlv_begin(&b, 0xA1, &m3) | tlv_begin(&b, 0x30, &m4) |
	     tlv_put(&b, 0x06, id_mgf1, sizeof(id_mgf1)) | put_hash_algid(&b, md_nid) |
	     tlv_end(&b, m4) | tlv_end(&b, m3);
	r |= tlv_begin(&b, 0xA2, &m5) | tlv_put(&b, 0x02, &salt, 1) | tlv_end(&b, m5);
	r |= tlv_end(&b, m1) | tlv_end(&b, m0);
	if (r == 0) {
		p = b.data;
		alg = d2i_X509_ALGOR(NULL, &p, (long)b.len);
	}
	smk_buf_free(&b);
	if (alg == NULL)
		smk_fail(e, SMK_E_CRYPTO, "RSASSA-PSS parameters: encoding failed");
	return alg;
}

static X509_ALGOR *sig_algor(const struct sigalg *a, smk_err *e)
{
	X509_ALGOR *alg;

	if (a->sig_nid == NID_rsassaPss)
		return pss_algor(a->md_nid, e);
	alg = X509_ALGOR_new();
	/* RFC 5758 §3.2: ECDSA identifiers have no parameters; RFC 4055 §5:
	 * the PKCS#1 v1.5 ones a NULL */
	if (alg == NULL ||
	    !X509_ALGOR_set0(alg, OBJ_nid2obj(a->sig_nid),
			     a->type == SMK_KEY_EC ? V_ASN1_UNDEF : V_ASN1_NULL, NULL)) {
		X509_ALGOR_free(alg);
		smk_fail(e, SMK_E_CRYPTO, "signature algorithm: out of memory");
		return NULL;
	}
	return alg;
}

/* Have the card sign tbs and put together SEQUENCE { tbs, alg, BIT STRING sig }. */
static int sign_and_wrap(const x509_signer *s, const struct sigalg *a, const X509_ALGOR *alg,
			 const uint8_t *tbs, size_t tbs_len, smk_buf *out, smk_err *e)
{
	smk_buf in = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	uint8_t *algder = NULL;
	int alglen, r = -1;
	size_t m0, m1;

	if (card_input(a, s->pub, tbs, tbs_len, &in, e) < 0)
		goto out;
	if (s->sign(s->ctx, a->card_alg, in.data, in.len, &sig, e) < 0) {
		smk_context(e, "HSM signature (%s)", alg_by_id(a->card_alg)->name);
		goto out;
	}
	if (sig.len == 0 || sig.len > SIG_MAX) {
		smk_fail(e, SMK_E_FORMAT, "HSM signature (%s): %zu bytes is not a signature",
			 alg_by_id(a->card_alg)->name, sig.len);
		goto out;
	}
	alglen = i2d_X509_ALGOR(alg, &algder);
	if (alglen <= 0) {
		smk_fail(e, SMK_E_CRYPTO, "signature algorithm: encoding failed");
		goto out;
	}
	if (tlv_begin(out, 0x30, &m0) | smk_buf_add(out, tbs, tbs_len) |
	    smk_buf_add(out, algder, (size_t)alglen) | tlv_begin(out, 0x03, &m1) |
	    smk_buf_add_byte(out, 0x00) | smk_buf_add(out, sig.data, sig.len) | tlv_end(out, m1) |
	    tlv_end(out, m0)) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto out;
	}
	r = 0;
out:
	OPENSSL_free(algder);
	smk_buf_free(&in);
	smk_buf_free(&sig);
	return r;
}

static int signer_ok(const x509_signer *s, const char *subject, smk_err *e)
{
	if (s == NULL || s->sign == NULL || s->pub == NULL || subject == NULL)
		return smk_fail(e, SMK_E_ARG, "X.509: signer, public key and subject required");
	return 0;
}

static int bio_to_buf(BIO *bio, smk_buf *out, smk_err *e)
{
	char *p;
	long n = BIO_get_mem_data(bio, &p);

	if (n <= 0 || smk_buf_add(out, p, (size_t)n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "PEM: out of memory");
	return 0;
}

int x509_make_csr(const x509_signer *s, const char *subject, smk_buf *pem, smk_err *e)
{
	const struct sigalg *a;
	X509_NAME *name = NULL;
	X509_REQ *req = NULL, *done = NULL;
	X509_ALGOR *alg = NULL;
	smk_buf der = SMK_BUF_INIT;
	uint8_t *tbs = NULL;
	const uint8_t *p;
	BIO *bio = NULL;
	int tbs_len, r = -1;

	if (signer_ok(s, subject, e) < 0 || (a = pick(s, e)) == NULL ||
	    x509_parse_subject(subject, &name, e) < 0 || (alg = sig_algor(a, e)) == NULL)
		goto out;
	req = X509_REQ_new();
	if (req == NULL || !X509_REQ_set_version(req, 0) || !X509_REQ_set_subject_name(req, name) ||
	    !X509_REQ_set_pubkey(req, s->pub) || (tbs_len = i2d_re_X509_REQ_tbs(req, &tbs)) <= 0) {
		smk_fail(e, SMK_E_CRYPTO, "CSR: building the request failed");
		goto out;
	}
	if (sign_and_wrap(s, a, alg, tbs, (size_t)tbs_len, &der, e) < 0)
		goto out;
	p = der.data;
	done = d2i_X509_REQ(NULL, &p, (long)der.len);
	if (done == NULL || p != der.data + der.len) {
		smk_fail(e, SMK_E_FORMAT, "CSR: the signed request does not parse");
		goto out;
	}
	/* a card that signed with another key or over other bytes stops here */
	if (X509_REQ_verify(done, s->pub) != 1) {
		smk_fail(e, SMK_E_SIGNATURE,
			 "CSR: the HSM's signature (%s) does not verify with the key's public key",
			 a->name);
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (bio == NULL || !PEM_write_bio_X509_REQ(bio, done)) {
		smk_fail(e, SMK_E_NOMEM, "CSR: PEM encoding failed");
		goto out;
	}
	r = bio_to_buf(bio, pem, e);
out:
	ERR_clear_error();
	BIO_free(bio);
	OPENSSL_free(tbs);
	smk_buf_free(&der);
	X509_REQ_free(done);
	X509_REQ_free(req);
	X509_ALGOR_free(alg);
	X509_NAME_free(name);
	return r;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value, smk_err *e)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok = ext != NULL && X509_add_ext(x, ext, -1);

	X509_EXTENSION_free(ext);
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "certificate: extension %s failed",
				OBJ_nid2sn(nid));
	return 0;
}

/* 16 random bytes, positive and without a leading zero byte (RFC 5280
 * §4.1.2.2: at most 20 octets). */
static int set_serial(X509 *x, smk_err *e)
{
	uint8_t b[16];
	BIGNUM *bn = NULL;
	ASN1_INTEGER *serial = NULL;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return smk_fail(e, SMK_E_CRYPTO, "certificate: no random serial");
	b[0] = (uint8_t)((b[0] & 0x7F) | 0x40);
	bn = BN_bin2bn(b, sizeof(b), NULL);
	serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	ok = serial != NULL && X509_set_serialNumber(x, serial);
	ASN1_INTEGER_free(serial);
	BN_free(bn);
	return ok ? 0 : smk_fail(e, SMK_E_CRYPTO, "certificate: serial failed");
}

static int build_cert(X509 *x, const x509_signer *s, X509_NAME *name, unsigned days, time_t now,
		      const X509_ALGOR *alg, smk_err *e)
{
	X509V3_CTX ctx;
	X509_ALGOR *tbs_alg;

	if (!X509_set_version(x, 2) || set_serial(x, e) < 0 || !X509_set_subject_name(x, name) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, s->pub) ||
	    ASN1_TIME_set(X509_getm_notBefore(x), now) == NULL ||
	    ASN1_TIME_adj(X509_getm_notAfter(x), now, (int)days, 0) == NULL)
		return smk_fail(e, SMK_E_CRYPTO, "certificate: building the fields failed");
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	if (add_ext(x, &ctx, NID_basic_constraints, "critical,CA:FALSE", e) < 0 ||
	    add_ext(x, &ctx, NID_key_usage, "critical,digitalSignature", e) < 0 ||
	    add_ext(x, &ctx, NID_subject_key_identifier, "hash", e) < 0 ||
	    add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always", e) < 0)
		return -1;
	/* The signature algorithm inside the TBS. OpenSSL 3.0 sets it only
	 * while signing with a key it holds and offers no setter, so write it
	 * into the structure X509_get0_tbs_sigalg returns; i2d_re_X509_tbs
	 * re-encodes from it. */
	tbs_alg = (X509_ALGOR *)X509_get0_tbs_sigalg(x);
	if (!X509_ALGOR_copy(tbs_alg, alg))
		return smk_fail(e, SMK_E_CRYPTO, "certificate: signature algorithm failed");
	return 0;
}

int x509_make_selfsigned(const x509_signer *s, const char *subject, unsigned days, time_t now,
			 smk_buf *der, smk_buf *pem, smk_err *e)
{
	const struct sigalg *a;
	X509_NAME *name = NULL;
	X509 *x = NULL, *done = NULL;
	X509_ALGOR *alg = NULL;
	smk_buf signed_der = SMK_BUF_INIT;
	uint8_t *tbs = NULL;
	const uint8_t *p;
	BIO *bio = NULL;
	int tbs_len, r = -1;

	if (signer_ok(s, subject, e) < 0)
		return -1;
	if (days == 0 || days > X509_DAYS_MAX)
		return smk_fail(e, SMK_E_ARG, "certificate: validity of %u days, 1 to %u allowed",
				days, X509_DAYS_MAX);
	if ((a = pick(s, e)) == NULL || x509_parse_subject(subject, &name, e) < 0 ||
	    (alg = sig_algor(a, e)) == NULL)
		goto out;
	x = X509_new();
	if (x == NULL) {
		smk_fail(e, SMK_E_NOMEM, "certificate: out of memory");
		goto out;
	}
	if (build_cert(x, s, name, days, now, alg, e) < 0)
		goto out;
	tbs_len = i2d_re_X509_tbs(x, &tbs);
	if (tbs_len <= 0) {
		smk_fail(e, SMK_E_CRYPTO, "certificate: encoding the TBS failed");
		goto out;
	}
	if (sign_and_wrap(s, a, alg, tbs, (size_t)tbs_len, &signed_der, e) < 0)
		goto out;
	p = signed_der.data;
	done = d2i_X509(NULL, &p, (long)signed_der.len);
	if (done == NULL || p != signed_der.data + signed_der.len) {
		smk_fail(e, SMK_E_FORMAT, "certificate: the signed certificate does not parse");
		goto out;
	}
	if (X509_verify(done, s->pub) != 1) {
		smk_fail(e, SMK_E_SIGNATURE,
			 "certificate: the HSM's signature (%s) does not verify with the key's "
			 "public key",
			 a->name);
		goto out;
	}
	if (pem != NULL) {
		bio = BIO_new(BIO_s_mem());
		if (bio == NULL || !PEM_write_bio_X509(bio, done) || bio_to_buf(bio, pem, e) < 0) {
			smk_fail(e, SMK_E_NOMEM, "certificate: PEM encoding failed");
			goto out;
		}
	}
	if (smk_buf_add(der, signed_der.data, signed_der.len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "certificate: out of memory");
		goto out;
	}
	r = 0;
out:
	ERR_clear_error();
	BIO_free(bio);
	OPENSSL_free(tbs);
	smk_buf_free(&signed_der);
	X509_free(done);
	X509_free(x);
	X509_ALGOR_free(alg);
	X509_NAME_free(name);
	return r;
}

/* ---- reading certificates ---- */

/* Exactly one DER certificate in p[0..n). */
static X509 *parse_der(const uint8_t *p, size_t n)
{
	const uint8_t *q = p;
	X509 *x;

	if (n == 0 || n > CERT_FILE_MAX)
		return NULL;
	x = d2i_X509(NULL, &q, (long)n);
	if (x != NULL && q != p + n) {
		X509_free(x);
		x = NULL;
	}
	ERR_clear_error();
	return x;
}

static bool looks_pem(const uint8_t *p, size_t n)
{
	static const char begin[] = "-----BEGIN ";
	size_t i;

	for (i = 0; i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'); i++)
		;
	return n - i >= sizeof(begin) - 1 && memcmp(p + i, begin, sizeof(begin) - 1) == 0;
}

static int asn1_time(const ASN1_TIME *t, int64_t *out, smk_err *e)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return smk_fail(e, SMK_E_FORMAT, "certificate: unreadable validity time");
	*out = (int64_t)timegm(&tm);
	return 0;
}

int x509_load_cert(const uint8_t *p, size_t n, smk_buf *der, smk_err *e)
{
	X509 *x = NULL, *more = NULL;
	uint8_t *out = NULL;
	BIO *bio = NULL;
	int len, r = -1;

	if (p == NULL || n == 0)
		return smk_fail(e, SMK_E_ARG, "certificate: empty input");
	if (n > CERT_FILE_MAX)
		return smk_fail(e, SMK_E_ARG, "certificate: %zu bytes is too big for a certificate",
				n);
	if (looks_pem(p, n)) {
		bio = BIO_new_mem_buf(p, (int)n);
		x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
		if (x == NULL) {
			smk_fail(e, SMK_E_FORMAT,
				 "certificate: PEM without a readable CERTIFICATE");
			goto out;
		}
		more = PEM_read_bio_X509(bio, NULL, NULL, NULL);
		if (more != NULL) {
			smk_fail(e, SMK_E_ARG,
				 "certificate: the PEM holds more than one certificate; give the "
				 "key's certificate alone");
			goto out;
		}
	} else {
		x = parse_der(p, n);
		if (x == NULL) {
			smk_fail(e, SMK_E_FORMAT,
				 "certificate: neither PEM nor exactly one DER X.509 certificate");
			goto out;
		}
	}
	/* a certificate goes to the card and into the archive: its validity
	 * must read as times (what x509_describe reports) */
	{
		int64_t t;

		if (asn1_time(X509_get0_notBefore(x), &t, e) < 0 ||
		    asn1_time(X509_get0_notAfter(x), &t, e) < 0)
			goto out;
	}
	len = i2d_X509(x, &out);
	if (len <= 0 || smk_buf_add(der, out, (size_t)len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "certificate: encoding failed");
		goto out;
	}
	r = 0;
out:
	ERR_clear_error();
	OPENSSL_free(out);
	X509_free(more);
	X509_free(x);
	BIO_free(bio);
	return r;
}

int x509_cert_matches_spki(const uint8_t *der, size_t n, const uint8_t *spki, size_t spki_len,
			   smk_err *e)
{
	X509 *x = parse_der(der, n);
	uint8_t *cert_spki = NULL;
	char have[65], want[65];
	int len, r = -1;

	if (x == NULL)
		return smk_fail(e, SMK_E_FORMAT,
				"certificate: not exactly one DER X.509 certificate");
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &cert_spki);
	if (len <= 0) {
		smk_fail(e, SMK_E_FORMAT, "certificate: no public key");
		goto out;
	}
	if (spki != NULL && (size_t)len == spki_len && memcmp(cert_spki, spki, spki_len) == 0) {
		r = 0;
		goto out;
	}
	if (smk_sha256_hex(cert_spki, (size_t)len, have, e) < 0 ||
	    smk_sha256_hex(spki ? spki : (const uint8_t *)"", spki ? spki_len : 0, want, e) < 0)
		goto out;
	smk_fail(e, SMK_E_MISMATCH,
		 "certificate's public key (sha256 %s) is not the key's (sha256 %s)", have, want);
out:
	OPENSSL_free(cert_spki);
	X509_free(x);
	return r;
}

static void name_line(const X509_NAME *name, char *buf, size_t cap)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *p;
	long n;

	buf[0] = '\0';
	if (bio == NULL)
		return;
	/* "CN=Release key, O=Example Ltd, C=DE", UTF-8 kept */
	if (X509_NAME_print_ex(bio, name, 0,
			       XN_FLAG_SEP_CPLUS_SPC | XN_FLAG_FN_SN |
				   (ASN1_STRFLGS_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)) >= 0) {
		n = BIO_get_mem_data(bio, &p);
		if (n > 0)
			snprintf(buf, cap, "%.*s", (int)(n < (long)cap ? n : (long)cap - 1), p);
	}
	BIO_free(bio);
}

int x509_describe(const uint8_t *der, size_t n, x509_info *out, smk_err *e)
{
	X509 *x = parse_der(der, n);
	int r = -1;

	memset(out, 0, sizeof(*out));
	if (x == NULL)
		return smk_fail(e, SMK_E_FORMAT,
				"certificate: not exactly one DER X.509 certificate");
	name_line(X509_get_subject_name(x), out->subject, sizeof(out->subject));
	name_line(X509_get_issuer_name(x), out->issuer, sizeof(out->issuer));
	if (smk_sha256_hex(der, n, out->fingerprint, e) == 0 &&
	    asn1_time(X509_get0_notBefore(x), &out->not_before, e) == 0 &&
	    asn1_time(X509_get0_notAfter(x), &out->not_after, e) == 0)
		r = 0;
	X509_free(x);
	return r;
}
