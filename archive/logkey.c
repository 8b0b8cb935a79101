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

	if (archive_sha256(spki, n, h, e) < 0)
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

/* One UTF-8 code point at s[0..n): its value and length, or -1 (overlong
 * forms, surrogates and values above U+10FFFF are not UTF-8). */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	uint32_t c = s[0], min;
	int len, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xE0) == 0xC0) {
		len = 2, c &= 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		len = 3, c &= 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else {
		return -1;
	}
	if ((size_t)len > n)
		return -1;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		c = c << 6 | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -1;
	*cp = c;
	return len;
}

/* Unicode White_Space (what Go's unicode.IsSpace, and so the note package's
 * name check, refuses), and the controls C0, DEL and C1. */
static int space_or_control(uint32_t c)
{
	if (c < 0x20 || c == ' ' || (c >= 0x7F && c <= 0xA0))
		return 1;
	return c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
	       c == 0x202F || c == 0x205F || c == 0x3000;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int archive_logkey_parse(const char *s, size_t len, archive_logkey *out, smk_err *e)
{
	const char *p1, *p2;
	size_t name_len, i;
	smk_buf raw = SMK_BUF_INIT;
	EVP_PKEY *pk;
	uint32_t id = 0, want;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	p1 = memchr(s, '+', len);
	if (!p1)
		return smk_fail(e, SMK_E_FORMAT,
				"verifier key: not <name>+<key ID>+<key> (no '+' in it)");
	name_len = (size_t)(p1 - s);
	if (name_len == 0)
		return smk_fail(e, SMK_E_FORMAT, "verifier key: empty key name");
	if (name_len >= sizeof(out->name))
		return smk_fail(e, SMK_E_FORMAT,
				"verifier key: key name of %zu bytes is too long (at most %d)",
				name_len, ARCHIVE_ORIGIN_MAX - 1);
	for (i = 0; i < name_len;) {
		uint32_t cp;
		int n = utf8_next((const unsigned char *)s + i, name_len - i, &cp);

		if (n < 0)
			return smk_fail(e, SMK_E_FORMAT,
					"verifier key: key name is not UTF-8 at byte %zu", i);
		if (space_or_control(cp))
			return smk_fail(e, SMK_E_FORMAT,
					"verifier key: key name has a space or control character "
					"at byte %zu",
					i);
		i += (size_t)n;
	}
	p2 = memchr(p1 + 1, '+', len - name_len - 1);
	if (!p2 || p2 - (p1 + 1) != 8)
		return smk_fail(e, SMK_E_FORMAT,
				"verifier key: the key ID after the name is not 8 hex digits");
	for (i = 0; i < 8; i++) {
		int v = hexval(p1[1 + i]);

		if (v < 0)
			return smk_fail(e, SMK_E_FORMAT,
					"verifier key: the key ID after the name is not 8 hex "
					"digits");
		id = id << 4 | (uint32_t)v;
	}
	if (archive_b64_decode(p2 + 1, len - (size_t)(p2 + 1 - s), &raw, "verifier key: key", e) <
	    0)
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
	memcpy(out->name, s, name_len);
	out->name[name_len] = '\0';
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
	size_t n, pos = 0, line = 0;
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
	while (pos < text.len) {
		const char *l = (const char *)text.data + pos;
		const char *nl = memchr(l, '\n', text.len - pos);
		size_t ll = nl ? (size_t)(nl - l) : text.len - pos;
		size_t a = 0, b = ll;
		char *one;

		pos += ll + (nl ? 1 : 0);
		line++;
		/* white space around the key is not part of it */
		while (a < b && (l[a] == ' ' || l[a] == '\t'))
			a++;
		while (b > a && (l[b - 1] == ' ' || l[b - 1] == '\t' || l[b - 1] == '\r'))
			b--;
		if (a == b || l[a] == '#')
			continue;
		if (memchr(l + a, '\0', b - a)) {
			smk_fail(e, SMK_E_FORMAT, "%s:%zu: NUL byte in the line", path, line);
			goto out;
		}
		one = strndup(l + a, b - a);
		if (!one) {
			smk_fail(e, SMK_E_NOMEM, "%s: out of memory", path);
			goto out;
		}
		snprintf(what, sizeof(what), "%s:%zu", path, line);
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
