/* SPDX-License-Identifier: BSD-3-Clause */
/* Reading canonical JSON and X.509 public keys for the archive, and freeing
 * the buffers of its structures. */
#include "internal.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "verify.h"

void archive_bufs_free(smk_buf *const bufs[], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		smk_buf_free(bufs[i]);
}

/* p read by jansson: an object, or e says why not. */
static int read_object(const uint8_t *p, size_t n, json_t **out, const char *what, smk_err *e)
{
	json_error_t jerr;
	json_t *v;

	*out = NULL;
	if (n > ARCHIVE_JSON_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: %zu bytes is larger than %u", what, n,
				ARCHIVE_JSON_MAX);
	v = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (!v)
		return smk_fail(e, SMK_E_FORMAT, "%s: not JSON: %s at byte %d", what, jerr.text,
				jerr.position);
	if (!json_is_object(v)) {
		json_decref(v);
		return smk_fail(e, SMK_E_FORMAT, "%s: not a JSON object", what);
	}
	*out = v;
	return 0;
}

/* The subset of the canonical form smk_json_read_canonical reads is read
 * straight from the bytes, to the value jansson would read (smkey audit
 * reads every record and its policy document); anything else by jansson. */
int archive_json_load(const uint8_t *p, size_t n, json_t **out, const char *what, smk_err *e)
{
	if (n <= ARCHIVE_JSON_MAX && (*out = smk_json_read_canonical(p, n)) != NULL)
		return 0;
	return read_object(p, n, out, what, e);
}

int archive_json_load_canonical(const uint8_t *p, size_t n, json_t **out, const char *what,
				smk_err *e)
{
	smk_buf again = SMK_BUF_INIT;
	int same;

	/* bytes that are canonical by their form alone need no re-encoding
	 * (smkey audit reads every record); anything else is decided below */
	if (n <= ARCHIVE_JSON_MAX && (*out = smk_json_read_canonical(p, n)) != NULL)
		return 0;
	if (read_object(p, n, out, what, e) < 0)
		return -1;
	if (smk_json_canonical(*out, &again, e) < 0)
		goto fail;
	same = again.len == n && memcmp(again.data, p, n) == 0;
	if (!same) {
		/* written before the canonical form was JCS: \u001F, not \u001f */
		again.len = 0;
		if (smk_json_canonical_legacy(*out, &again, e) < 0)
			goto fail;
		same = again.len == n && memcmp(again.data, p, n) == 0;
	}
	smk_buf_free(&again);
	if (!same) {
		smk_fail(e, SMK_E_FORMAT, "%s: not in canonical form (sorted keys, compact)", what);
		goto fail;
	}
	return 0;
fail:
	smk_buf_free(&again);
	json_decref(*out);
	*out = NULL;
	return -1;
}

static const json_t *member(const json_t *o, const char *key, const char *what, smk_err *e)
{
	const json_t *v = json_object_get(o, key);

	if (!v)
		smk_fail(e, SMK_E_FORMAT, "%s: missing \"%s\"", what, key);
	return v;
}

int archive_json_str(const json_t *o, const char *key, const char **s, const char *what, smk_err *e)
{
	const json_t *v = member(o, key, what, e);

	if (!v)
		return -1;
	if (!json_is_string(v))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is not a string", what, key);
	if (strlen(json_string_value(v)) != json_string_length(v))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" contains a NUL character", what, key);
	*s = json_string_value(v);
	return 0;
}

int archive_json_int(const json_t *o, const char *key, int64_t min, int64_t max, int64_t *out,
		     const char *what, smk_err *e)
{
	const json_t *v = member(o, key, what, e);
	json_int_t i;

	if (!v)
		return -1;
	if (!json_is_integer(v))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is not an integer", what, key);
	i = json_integer_value(v);
	if (i < min || i > max)
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" = %lld is out of range", what, key,
				(long long)i);
	*out = i;
	return 0;
}

int archive_json_bool(const json_t *o, const char *key, int *out, const char *what, smk_err *e)
{
	const json_t *v = member(o, key, what, e);

	if (!v)
		return -1;
	if (!json_is_boolean(v))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is not true or false", what, key);
	*out = json_is_true(v);
	return 0;
}

int archive_json_obj(const json_t *o, const char *key, json_t **out, const char *what, smk_err *e)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return smk_fail(e, SMK_E_FORMAT, "%s: missing \"%s\"", what, key);
	if (!json_is_object(v))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is not an object", what, key);
	*out = v;
	return 0;
}

int archive_json_bytes(const json_t *o, const char *key, smk_buf *out, size_t exact_len,
		       const char *what, smk_err *e)
{
	const json_t *v = member(o, key, what, e);
	size_t before = out->len;

	if (!v)
		return -1;
	if (!json_is_string(v))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is not a base64 string", what, key);
	if (smk_b64_decode(json_string_value(v), json_string_length(v), out, key, e) < 0)
		return smk_context(e, "%s", what);
	if (exact_len && out->len - before != exact_len)
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is %zu bytes, must be %zu", what, key,
				out->len - before, exact_len);
	return 0;
}

int archive_json_keys(const json_t *o, const char *const *keys, const char *what, smk_err *e)
{
	const char *k;
	json_t *v;
	size_t i;

	json_object_foreach((json_t *)o, k, v)
	{
		for (i = 0; keys[i]; i++)
			if (strcmp(keys[i], k) == 0)
				break;
		if (!keys[i])
			return smk_fail(e, SMK_E_FORMAT, "%s: unexpected member \"%s\"", what, k);
	}
	for (i = 0; keys[i]; i++)
		if (!json_object_get(o, keys[i]))
			return smk_fail(e, SMK_E_FORMAT, "%s: missing \"%s\"", what, keys[i]);
	return 0;
}

int archive_cert_spki(const uint8_t *der, size_t n, smk_buf *spki, smk_err *e)
{
	const unsigned char *q = der;
	unsigned char *out = NULL;
	X509 *x;
	int len, rc = 0;

	if (!der || n == 0 || n > ARCHIVE_JSON_MAX)
		return smk_fail(e, SMK_E_FORMAT, "certificate: %zu bytes", n);
	x = d2i_X509(NULL, &q, (long)n);
	if (!x)
		return smk_fail(e, SMK_E_FORMAT, "certificate: not an X.509 certificate (DER)");
	if (q != der + n) {
		X509_free(x);
		return smk_fail(e, SMK_E_FORMAT,
				"certificate: %zu bytes after the X.509 certificate",
				(size_t)(der + n - q));
	}
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &out);
	if (len <= 0)
		rc = smk_fail(e, SMK_E_FORMAT, "certificate: no public key");
	else if (smk_buf_add(spki, out, (size_t)len) < 0)
		rc = smk_fail(e, SMK_E_NOMEM, "certificate: out of memory");
	OPENSSL_free(out);
	X509_free(x);
	return rc;
}

int archive_cert_load(const uint8_t *p, size_t n, smk_buf *der, smk_err *e)
{
	static const char pem[] = "-----BEGIN CERTIFICATE-----";
	smk_buf spki = SMK_BUF_INIT;
	unsigned char *out = NULL;
	BIO *bio;
	X509 *x;
	int len, rc;

	if (n > ARCHIVE_JSON_MAX)
		return smk_fail(e, SMK_E_FORMAT, "certificate: %zu bytes is too large", n);
	if (!memmem(p, n, pem, sizeof(pem) - 1)) {
		/* DER: the whole input is one certificate */
		rc = archive_cert_spki(p, n, &spki, e);
		smk_buf_free(&spki);
		if (rc == 0 && smk_buf_add(der, p, n) < 0)
			rc = smk_fail(e, SMK_E_NOMEM, "certificate: out of memory");
		return rc;
	}
	bio = BIO_new_mem_buf(p, (int)n);
	x = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!x)
		return smk_fail(e, SMK_E_FORMAT,
				"certificate: PEM that is not an X.509 certificate");
	len = i2d_X509(x, &out);
	X509_free(x);
	rc = len <= 0 ? smk_fail(e, SMK_E_FORMAT, "certificate: cannot encode")
	     : smk_buf_add(der, out, (size_t)len) < 0 ? smk_fail(e, SMK_E_NOMEM, "out of memory")
						      : 0;
	OPENSSL_free(out);
	return rc;
}

int archive_cert_describe(const uint8_t *der, size_t n, char subject[256], char fp[65], smk_err *e)
{
	const unsigned char *q = der;
	uint8_t digest[32];
	BIO *bio;
	X509 *x;
	int len;

	subject[0] = '\0';
	if (smk_sha256(der, n, digest, e) < 0)
		return -1;
	smk_hex_to(fp, digest, 32, SMK_HEX_LOWER);
	x = d2i_X509(NULL, &q, (long)n);
	if (!x)
		return smk_fail(e, SMK_E_FORMAT, "certificate: not an X.509 certificate (DER)");
	bio = BIO_new(BIO_s_mem());
	if (bio &&
	    X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
			       XN_FLAG_ONELINE & ~XN_FLAG_SPC_EQ & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
		len = BIO_read(bio, subject, 255);
		subject[len > 0 ? len : 0] = '\0';
	}
	BIO_free(bio);
	X509_free(x);
	return 0;
}

int archive_cert_matches(const uint8_t *der, size_t n, const uint8_t *spki, size_t spki_len,
			 smk_err *e)
{
	smk_buf cert_spki = SMK_BUF_INIT;
	uint8_t a[32], b[32];
	char ha[65], hb[65];
	int rc;

	if (archive_cert_spki(der, n, &cert_spki, e) < 0)
		return -1;
	if (cert_spki.len == spki_len && memcmp(cert_spki.data, spki, spki_len) == 0) {
		smk_buf_free(&cert_spki);
		return 0;
	}
	rc = smk_sha256(cert_spki.data, cert_spki.len, a, e) < 0 ||
	     smk_sha256(spki, spki_len, b, e) < 0;
	smk_buf_free(&cert_spki);
	if (rc)
		return -1;
	smk_hex_to(ha, a, 32, SMK_HEX_LOWER);
	smk_hex_to(hb, b, 32, SMK_HEX_LOWER);
	return smk_fail(e, SMK_E_MISMATCH,
			"certificate's public key (sha256 %s) is not the key's (sha256 %s)", ha,
			hb);
}
