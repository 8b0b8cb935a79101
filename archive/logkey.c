/* SPDX-License-Identifier: BSD-3-Clause */
/* Note verifier keys of logs (logkey.h): printing, strict parsing, pins. */
#include "logkey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "internal.h"
#include "vkey.h"

/* A logs file holds a handful of lines; anything far larger is not one. */
#define LOGS_FILE_MAX (256u * 1024u)

/* The EC public key in spki, which must be its own DER re-encoding, on a
 * curve signed-note allows for type 0x02, with an uncompressed point (what
 * other verifiers parse). */
static EVP_PKEY *ec_key(const uint8_t *spki, size_t n, const char *what, smk_err *e)
{
	static const char *const curves[] = {"prime256v1", "secp384r1", "secp521r1"};
	const unsigned char *q = spki;
	unsigned char *again = NULL;
	const unsigned char *point = NULL;
	X509_PUBKEY *xpub;
	char group[64];
	size_t glen = 0, i;
	EVP_PKEY *pk;
	int dlen, plen = 0;

	if (n == 0 || n > ARCHIVE_LOGKEY_SPKI_MAX) {
		smk_fail(e, SMK_E_FORMAT, "%s: public key of %zu bytes is not an EC key's SPKI",
			 what, n);
		return NULL;
	}
	pk = d2i_PUBKEY(NULL, &q, (long)n);
	if (!pk || q != spki + n) {
		EVP_PKEY_free(pk);
		smk_fail(e, SMK_E_FORMAT, "%s: public key is not a SubjectPublicKeyInfo (DER)",
			 what);
		return NULL;
	}
	if (EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    !EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
					    &glen)) {
		EVP_PKEY_free(pk);
		smk_fail(e, SMK_E_UNSUPPORTED,
			 "%s: not an EC key on a named curve (signature type 0x02 is ECDSA)", what);
		return NULL;
	}
	for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++)
		if (strcmp(group, curves[i]) == 0)
			break;
	if (i == sizeof(curves) / sizeof(curves[0])) {
		EVP_PKEY_free(pk);
		smk_fail(e, SMK_E_UNSUPPORTED,
			 "%s: curve %s is not P-256, P-384 or P-521 (signed-note type 0x02)", what,
			 group);
		return NULL;
	}
	/* the point as the SPKI carries it: 0x04 is uncompressed */
	q = spki;
	xpub = d2i_X509_PUBKEY(NULL, &q, (long)n);
	if (!xpub || !X509_PUBKEY_get0_param(NULL, &point, &plen, NULL, xpub) || plen < 1 ||
	    point[0] != 0x04) {
		X509_PUBKEY_free(xpub);
		EVP_PKEY_free(pk);
		smk_fail(e, SMK_E_FORMAT, "%s: EC point is not in uncompressed form", what);
		return NULL;
	}
	X509_PUBKEY_free(xpub);
	dlen = i2d_PUBKEY(pk, &again);
	if (dlen <= 0 || (size_t)dlen != n || memcmp(again, spki, n) != 0) {
		OPENSSL_free(again);
		EVP_PKEY_free(pk);
		smk_fail(e, SMK_E_FORMAT, "%s: public key is not in its DER encoding", what);
		return NULL;
	}
	OPENSSL_free(again);
	return pk;
}

static int key_id(const uint8_t *spki, size_t n, uint32_t *id, smk_err *e)
{
	uint8_t h[32];

	if (smk_sha256(spki, n, h, e) < 0)
		return -1;
	*id = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
	return 0;
}

static int format(archive_logkey *k, smk_err *e)
{
	uint8_t raw[1 + ARCHIVE_LOGKEY_SPKI_MAX];
	char b64[4 * ((sizeof(raw) + 2) / 3) + 1];
	int n;

	raw[0] = ARCHIVE_LOGKEY_TYPE_ECDSA;
	memcpy(raw + 1, k->spki, k->spki_len);
	EVP_EncodeBlock((unsigned char *)b64, raw, (int)(1 + k->spki_len));
	n = snprintf(k->text, sizeof(k->text), "%s+%08x+%s", k->name, (unsigned)k->id, b64);
	if (n < 0 || (size_t)n >= sizeof(k->text))
		return smk_fail(e, SMK_E_ARG, "verifier key of %s: too long", k->name);
	return 0;
}

int archive_logkey_of(const uint8_t *spki, size_t n, archive_logkey *out, smk_err *e)
{
	EVP_PKEY *pk;
	int rc;

	memset(out, 0, sizeof(*out));
	pk = ec_key(spki, n, "archive key", e);
	if (!pk)
		return -1;
	rc = archive_checkpoint_origin(pk, out->name, e);
	EVP_PKEY_free(pk);
	if (rc < 0)
		return -1;
	memcpy(out->spki, spki, n);
	out->spki_len = n;
	if (key_id(spki, n, &out->id, e) < 0 || format(out, e) < 0) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	return 0;
}

int archive_logkey_parse(const char *s, size_t len, archive_logkey *out, smk_err *e)
{
	vkey_parts v;
	smk_buf raw = SMK_BUF_INIT;
	EVP_PKEY *pk;
	uint8_t idb[4];
	uint32_t id, want;
	size_t at;
	int plus, rc = -1;

	memset(out, 0, sizeof(*out));
	plus = vkey_split(s, len, &v);
	if (plus == 0)
		return smk_fail(e, SMK_E_FORMAT,
				"verifier key: not <name>+<key ID>+<key> (no '+' in it)");
	if (v.name_len == 0)
		return smk_fail(e, SMK_E_FORMAT, "verifier key: empty key name");
	if (v.name_len >= sizeof(out->name))
		return smk_fail(e, SMK_E_FORMAT,
				"verifier key: key name of %zu bytes is too long (at most %d)",
				v.name_len, ARCHIVE_ORIGIN_MAX - 1);
	switch (vkey_name_check(v.name, v.name_len, &at)) {
	case VKEY_NAME_OK:
		break;
	case VKEY_NAME_UTF8:
		return smk_fail(e, SMK_E_FORMAT, "verifier key: key name is not UTF-8 at byte %zu",
				at);
	default: /* white space or a control character; '+' ends the name */
		return smk_fail(e, SMK_E_FORMAT,
				"verifier key: key name has a space or control character "
				"at byte %zu",
				at);
	}
	if (plus < 2 || vkey_id(v.id, v.id_len, idb) < 0)
		return smk_fail(e, SMK_E_FORMAT,
				"verifier key: the key ID after the name is not 8 hex digits");
	id = (uint32_t)idb[0] << 24 | (uint32_t)idb[1] << 16 | (uint32_t)idb[2] << 8 | idb[3];
	if (smk_b64_decode(v.key, v.key_len, &raw, "verifier key: key", e) < 0)
		return -1;
	if (raw.len < 2 || raw.data[0] != ARCHIVE_LOGKEY_TYPE_ECDSA) {
		smk_fail(e, SMK_E_UNSUPPORTED,
			 "verifier key: key type 0x%02x is not 0x02 (ECDSA, c2sp.org/signed-note)",
			 raw.len ? raw.data[0] : 0);
		goto out;
	}
	pk = ec_key(raw.data + 1, raw.len - 1, "verifier key", e);
	if (!pk)
		goto out;
	EVP_PKEY_free(pk);
	memcpy(out->name, v.name, v.name_len);
	out->name[v.name_len] = '\0';
	memcpy(out->spki, raw.data + 1, raw.len - 1);
	out->spki_len = raw.len - 1;
	if (key_id(out->spki, out->spki_len, &want, e) < 0)
		goto out;
	if (id != want) {
		smk_fail(e, SMK_E_MISMATCH,
			 "verifier key: key ID %08x is not the key's (%08x: SHA-256 of its SPKI)",
			 (unsigned)id, (unsigned)want);
		goto out;
	}
	out->id = id;
	if (format(out, e) < 0)
		goto out;
	rc = 0;
out:
	smk_buf_free(&raw);
	if (rc < 0)
		memset(out, 0, sizeof(*out));
	return rc;
}

int archive_logkey_same(const archive_logkey *a, const archive_logkey *b)
{
	return strcmp(a->name, b->name) == 0 && a->id == b->id && a->spki_len == b->spki_len &&
	       memcmp(a->spki, b->spki, a->spki_len) == 0;
}

int archive_logpins_add(archive_logpins *p, const char *vkey, const char *what, smk_err *e)
{
	archive_logkey k, *grown;

	if (archive_logkey_parse(vkey, strlen(vkey), &k, e) < 0)
		return smk_context(e, "%s", what);
	grown = realloc(p->keys, (p->n + 1) * sizeof(*grown));
	if (!grown)
		return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", what);
	p->keys = grown;
	p->keys[p->n++] = k;
	return 0;
}

int archive_logpins_load_file(archive_logpins *p, const char *path, smk_err *e)
{
	FILE *f = fopen(path, "rb");
	smk_buf text = SMK_BUF_INIT;
	char chunk[4096], what[512];
	vkey_lines lines;
	const char *l;
	size_t n, ll;
	int rc = -1;

	if (!f) {
		if (errno == ENOENT)
			return 1;
		return smk_fail(e, SMK_E_IO, "%s: %s", path, strerror(errno));
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (text.len + n > LOGS_FILE_MAX) {
			smk_fail(e, SMK_E_FORMAT, "%s: more than %u bytes", path, LOGS_FILE_MAX);
			goto out;
		}
		if (smk_buf_add(&text, chunk, n) < 0) {
			smk_fail(e, SMK_E_NOMEM, "%s: out of memory", path);
			goto out;
		}
	}
	if (ferror(f)) {
		smk_fail(e, SMK_E_IO, "%s: read error", path);
		goto out;
	}
	vkey_lines_init(&lines, text.data, text.len, 0);
	while (vkey_lines_next(&lines, &l, &ll)) {
		char *one;

		if (memchr(l, '\0', ll)) {
			smk_fail(e, SMK_E_FORMAT, "%s:%zu: NUL byte in the line", path, lines.no);
			goto out;
		}
		one = strndup(l, ll);
		if (!one) {
			smk_fail(e, SMK_E_NOMEM, "%s: out of memory", path);
			goto out;
		}
		snprintf(what, sizeof(what), "%s:%zu", path, lines.no);
		if (archive_logpins_add(p, one, what, e) < 0) {
			free(one);
			goto out;
		}
		free(one);
	}
	rc = 0;
out:
	fclose(f);
	smk_buf_free(&text);
	return rc;
}

const archive_logkey *archive_logpins_find(const archive_logpins *p, const archive_logkey *k)
{
	size_t i;

	for (i = 0; p && i < p->n; i++)
		if (archive_logkey_same(&p->keys[i], k))
			return &p->keys[i];
	return NULL;
}

void archive_logpins_free(archive_logpins *p)
{
	free(p->keys);
	p->keys = NULL;
	p->n = 0;
}
