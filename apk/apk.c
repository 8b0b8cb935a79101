/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * APK signer certificates (apk/apk.h). The APK Signing Block and its v2/v3
 * signer sequences are read with a bounded cursor: every length is checked
 * against what is left of the enclosing structure before it is used, and
 * errors give the file offset of the field. The ZIP entries of the v1
 * scheme are read with libzip, the PKCS#7 and X.509 structures with
 * OpenSSL.
 */
#include "apk.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "archive/record.h"
#include "common/digest.h"
#include "common/hex.h"
#include "common/names.h"
#include "sm/x509.h"

#define EOCD_SIG 0x06054b50U
#define EOCD_LEN 22
#define EOCD_COMMENT_MAX 65535
#define FOOTER_LEN 24 /* u64 size, 16-byte magic */
static const char block_magic[16] = "APK Sig Block 42";

/* A view of part of the file: p[0..n), p at file offset off. */
struct cur {
	const uint8_t *p;
	size_t n;
	uint64_t off;
};

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static void skip(struct cur *c, size_t k)
{
	c->p += k;
	c->n -= k;
	c->off += k;
}

static int get_u32(struct cur *c, uint32_t *v, const char *what, smk_err *e)
{
	if (c->n < 4)
		return smk_fail(e, SMK_E_FORMAT, "%s at offset %llu: truncated (%zu of 4 bytes)",
				what, (unsigned long long)c->off, c->n);
	*v = le32(c->p);
	skip(c, 4);
	return 0;
}

/* A uint32 length and that many bytes, which must all be within c. */
static int get_lp(struct cur *c, struct cur *sub, const char *what, smk_err *e)
{
	uint64_t at = c->off;
	uint32_t len = 0;

	if (get_u32(c, &len, what, e) < 0)
		return -1;
	if (len > c->n)
		return smk_fail(e, SMK_E_FORMAT,
				"%s at offset %llu: length %u, but only %zu bytes are left", what,
				(unsigned long long)at, len, c->n);
	sub->p = c->p;
	sub->n = len;
	sub->off = c->off;
	skip(c, len);
	return 0;
}

/* clang-format off */
static const char *const scheme_names[] = {
	[APK_V1] = "v1 (JAR signing)", [APK_V2] = "v2", [APK_V3] = "v3", [APK_V31] = "v3.1",
};
/* clang-format on */
_Static_assert(SMK_NELEM(scheme_names) == APK_SCHEME_END, "every scheme has a name");

const char *apk_scheme_name(enum apk_scheme s)
{
	return smk_enum_name(scheme_names, SMK_NELEM(scheme_names), s, "unknown scheme");
}

void apk_signers_free(apk_signers *s)
{
	size_t i;

	for (i = 0; i < s->n; i++) {
		smk_buf_free(&s->v[i].cert);
		smk_buf_free(&s->v[i].spki);
	}
	free(s->v);
	memset(s, 0, sizeof(*s));
}

int apk_signer_holds(const apk_signer *s, const uint8_t *spki, size_t spki_len)
{
	return s->spki.len == spki_len && spki_len > 0 && memcmp(s->spki.data, spki, spki_len) == 0;
}

/* Append a signer of scheme s whose certificate is der[0..n). */
static int add_signer(apk_signers *out, enum apk_scheme s, const char *where, const uint8_t *der,
		      size_t n, size_t ncerts, smk_err *e)
{
	apk_signer *sg, *v;
	x509_info info;
	unsigned index = 1;
	size_t i;

	if (out->n >= APK_SIGNERS_MAX)
		return smk_fail(e, SMK_E_FORMAT, "more than %d signers", APK_SIGNERS_MAX);
	for (i = 0; i < out->n; i++)
		if (out->v[i].scheme == s)
			index++;
	v = realloc(out->v, (out->n + 1) * sizeof(*v));
	if (v == NULL)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	out->v = v;
	sg = &v[out->n];
	memset(sg, 0, sizeof(*sg));
	sg->scheme = s;
	sg->index = index;
	sg->ncerts = ncerts;
	snprintf(sg->where, sizeof(sg->where), "%s", where);
	if (x509_describe(der, n, &info, e) < 0 || archive_cert_spki(der, n, &sg->spki, e) < 0 ||
	    smk_sha256_hex(sg->spki.data, sg->spki.len, sg->spki_sha256, e) < 0)
		goto fail;
	if (smk_buf_add(&sg->cert, der, n) < 0) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto fail;
	}
	snprintf(sg->subject, sizeof(sg->subject), "%s", info.subject);
	memcpy(sg->cert_sha256, info.fingerprint, sizeof(sg->cert_sha256));
	out->n++;
	out->schemes |= 1u << s;
	return 0;
fail:
	smk_buf_free(&sg->cert);
	smk_buf_free(&sg->spki);
	return -1;
}

/* Drop the signers from index keep on (what a failed parse had added). */
static void truncate_to(apk_signers *out, size_t keep)
{
	while (out->n > keep) {
		out->n--;
		smk_buf_free(&out->v[out->n].cert);
		smk_buf_free(&out->v[out->n].spki);
	}
}

/* ---- v2, v3, v3.1 ---- */

/* One signer: its signed data's certificate sequence (first = the
 * signer's), and its public key field, which must be that certificate's. */
static int parse_signer(enum apk_scheme s, struct cur *sig, apk_signers *out, smk_err *e)
{
	struct cur sd, digests, certs, one = {NULL, 0, 0}, first = {NULL, 0, 0}, sigs, pk;
	uint64_t at = sig->off;
	uint32_t min_sdk, max_sdk;
	size_t ncerts = 0;
	smk_buf spki = SMK_BUF_INIT;
	char where[64];
	int rc;

	if (get_lp(sig, &sd, "signed data", e) < 0 || get_lp(&sd, &digests, "digests", e) < 0 ||
	    get_lp(&sd, &certs, "certificates", e) < 0)
		return -1;
	/* every certificate of the sequence must parse; the first is the signer's */
	while (certs.n > 0) {
		smk_buf other = SMK_BUF_INIT;

		if (get_lp(&certs, &one, "certificate", e) < 0)
			goto fail;
		rc = archive_cert_spki(one.p, one.n, ncerts == 0 ? &spki : &other, e);
		smk_buf_free(&other);
		if (rc < 0) {
			smk_context(e, "certificate at offset %llu", (unsigned long long)one.off);
			goto fail;
		}
		if (ncerts == 0)
			first = one;
		ncerts++;
	}
	if (ncerts == 0)
		return smk_fail(e, SMK_E_FORMAT, "certificates at offset %llu: none",
				(unsigned long long)certs.off);
	if (s != APK_V2 && (get_u32(sig, &min_sdk, "minSdkVersion", e) < 0 ||
			    get_u32(sig, &max_sdk, "maxSdkVersion", e) < 0))
		goto fail;
	if (get_lp(sig, &sigs, "signatures", e) < 0 || get_lp(sig, &pk, "public key", e) < 0)
		goto fail;
	if (sigs.n == 0) {
		smk_fail(e, SMK_E_FORMAT, "signatures at offset %llu: none",
			 (unsigned long long)sigs.off);
		goto fail;
	}
	if (pk.n != spki.len || memcmp(pk.p, spki.data, spki.len) != 0) {
		smk_fail(e, SMK_E_MISMATCH,
			 "public key at offset %llu is not the key of the signer's certificate "
			 "(offset %llu)",
			 (unsigned long long)pk.off, (unsigned long long)first.off);
		goto fail;
	}
	snprintf(where, sizeof(where), "offset %llu", (unsigned long long)at);
	rc = add_signer(out, s, where, first.p, first.n, ncerts, e);
	smk_buf_free(&spki);
	if (rc < 0)
		return smk_context(e, "certificate at offset %llu", (unsigned long long)first.off);
	return 0;
fail:
	smk_buf_free(&spki);
	return -1;
}

int apk_parse_scheme_block(uint32_t id, const uint8_t *p, size_t n, uint64_t base, apk_signers *out,
			   smk_err *e)
{
	enum apk_scheme s = id == APK_BLOCK_V2 ? APK_V2 : id == APK_BLOCK_V3 ? APK_V3 : APK_V31;
	struct cur c = {p, n, base}, seq, one;
	size_t keep = out->n;
	unsigned k = 0;

	if (id != APK_BLOCK_V2 && id != APK_BLOCK_V3 && id != APK_BLOCK_V31)
		return smk_fail(e, SMK_E_ARG, "block ID 0x%08x is not a signature scheme", id);
	if (get_lp(&c, &seq, "signer sequence", e) < 0)
		goto fail;
	while (seq.n > 0) {
		k++;
		if (get_lp(&seq, &one, "signer", e) < 0 || parse_signer(s, &one, out, e) < 0) {
			smk_context(e, "signer %u", k);
			goto fail;
		}
	}
	if (k == 0) {
		smk_fail(e, SMK_E_FORMAT, "signer sequence at offset %llu: no signer",
			 (unsigned long long)base);
		goto fail;
	}
	return 0;
fail:
	truncate_to(out, keep);
	return smk_context(e, "APK Signature Scheme %s block", apk_scheme_name(s));
}

int apk_parse_signing_block(const uint8_t *p, size_t n, uint64_t base, apk_signers *out, smk_err *e)
{
	struct cur c, pair;
	uint32_t ids[3] = {APK_BLOCK_V2, APK_BLOCK_V3, APK_BLOCK_V31};
	const uint8_t *val[3] = {NULL, NULL, NULL};
	size_t len[3] = {0, 0, 0}, keep = out->n;
	uint64_t voff[3] = {0, 0, 0}, size, at;
	uint32_t id;
	int i;

	if (n < 8 + FOOTER_LEN)
		return smk_fail(e, SMK_E_FORMAT, "APK Signing Block at offset %llu: %zu bytes",
				(unsigned long long)base, n);
	if (memcmp(p + n - 16, block_magic, 16) != 0)
		return smk_fail(e, SMK_E_FORMAT,
				"APK Signing Block at offset %llu: no \"APK Sig Block 42\" at its "
				"end",
				(unsigned long long)base);
	size = le64(p);
	if (size != n - 8 || le64(p + n - FOOTER_LEN) != size)
		return smk_fail(e, SMK_E_FORMAT,
				"APK Signing Block at offset %llu: its sizes %llu (start) and %llu "
				"(footer) are not the %zu bytes it spans",
				(unsigned long long)base, (unsigned long long)size,
				(unsigned long long)le64(p + n - FOOTER_LEN), n - 8);
	c.p = p + 8;
	c.n = n - 8 - FOOTER_LEN;
	c.off = base + 8;
	while (c.n > 0) {
		at = c.off;
		if (c.n < 8)
			return smk_fail(e, SMK_E_FORMAT,
					"APK Signing Block: pair at offset %llu: truncated (%zu of "
					"8 length bytes)",
					(unsigned long long)at, c.n);
		size = le64(c.p);
		skip(&c, 8);
		if (size < 4 || size > c.n)
			return smk_fail(e, SMK_E_FORMAT,
					"APK Signing Block: pair at offset %llu: length %llu, but "
					"%zu bytes are left (at least 4 needed)",
					(unsigned long long)at, (unsigned long long)size, c.n);
		pair.p = c.p;
		pair.n = (size_t)size;
		pair.off = c.off;
		skip(&c, (size_t)size);
		id = le32(pair.p);
		for (i = 0; i < 3; i++) {
			if (id != ids[i])
				continue;
			if (val[i] != NULL)
				return smk_fail(e, SMK_E_FORMAT,
						"APK Signing Block: a second block with ID 0x%08x "
						"at offset %llu",
						id, (unsigned long long)at);
			val[i] = pair.p + 4;
			len[i] = pair.n - 4;
			voff[i] = pair.off + 4;
		}
	}
	for (i = 0; i < 3; i++)
		if (val[i] != NULL &&
		    apk_parse_scheme_block(ids[i], val[i], len[i], voff[i], out, e) < 0) {
			truncate_to(out, keep);
			return -1;
		}
	out->has_block = 1;
	out->block_offset = base;
	return 0;
}

/* ---- v1 ---- */

int apk_parse_v1_block(const char *name, const uint8_t *p, size_t n, apk_signers *out, smk_err *e)
{
	const uint8_t *q = p;
	PKCS7 *p7;
	STACK_OF(PKCS7_SIGNER_INFO) * sis;
	STACK_OF(X509) * certs;
	size_t keep = out->n;
	uint8_t *der = NULL;
	int i, len, rc = -1;

	if (n == 0 || n > APK_V1_ENTRY_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: %zu bytes", name, n);
	p7 = d2i_PKCS7(NULL, &q, (long)n);
	ERR_clear_error();
	if (p7 == NULL || q != p + n) {
		PKCS7_free(p7);
		return smk_fail(e, SMK_E_FORMAT, "%s: not a DER PKCS#7 structure%s", name,
				p7 ? " (bytes after it)" : "");
	}
	if (!PKCS7_type_is_signed(p7) || p7->d.sign == NULL) {
		smk_fail(e, SMK_E_FORMAT, "%s: PKCS#7 but not SignedData", name);
		goto out;
	}
	certs = p7->d.sign->cert;
	sis = PKCS7_get_signer_info(p7);
	if (sis == NULL || sk_PKCS7_SIGNER_INFO_num(sis) == 0) {
		smk_fail(e, SMK_E_FORMAT, "%s: SignedData without a signer", name);
		goto out;
	}
	for (i = 0; i < sk_PKCS7_SIGNER_INFO_num(sis); i++) {
		PKCS7_SIGNER_INFO *si = sk_PKCS7_SIGNER_INFO_value(sis, i);
		X509 *x = NULL;

		if (si->issuer_and_serial != NULL && certs != NULL)
			x = X509_find_by_issuer_and_serial(certs, si->issuer_and_serial->issuer,
							   si->issuer_and_serial->serial);
		if (x == NULL) {
			smk_fail(e, SMK_E_FORMAT,
				 "%s: signer %d: its certificate (issuer and serial) is not in "
				 "the file",
				 name, i + 1);
			goto out;
		}
		len = i2d_X509(x, &der);
		if (len <= 0) {
			smk_fail(e, SMK_E_FORMAT, "%s: signer %d: certificate does not encode",
				 name, i + 1);
			goto out;
		}
		if (add_signer(out, APK_V1, name, der, (size_t)len, (size_t)sk_X509_num(certs), e) <
		    0) {
			smk_context(e, "%s: signer %d", name, i + 1);
			goto out;
		}
		OPENSSL_free(der);
		der = NULL;
	}
	rc = 0;
out:
	OPENSSL_free(der);
	PKCS7_free(p7);
	ERR_clear_error();
	if (rc < 0)
		truncate_to(out, keep);
	return rc;
}

/* META-INF/<name>.RSA, .EC or .DSA directly in META-INF. */
static int is_v1_block(const char *name)
{
	static const char *const ext[] = {".RSA", ".EC", ".DSA"};
	size_t n = strlen(name), k, i;

	if (strncmp(name, "META-INF/", 9) != 0 || strchr(name + 9, '/') != NULL)
		return 0;
	for (i = 0; i < 3; i++) {
		k = strlen(ext[i]);
		if (n > 9 + k && strcmp(name + n - k, ext[i]) == 0)
			return 1;
	}
	return 0;
}

static int read_entry(zip_t *z, zip_uint64_t i, const char *name, smk_buf *data, smk_err *e)
{
	zip_stat_t st;
	zip_file_t *f;
	zip_int64_t got;

	zip_stat_init(&st);
	if (zip_stat_index(z, i, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE))
		return smk_fail(e, SMK_E_FORMAT, "%s: %s", name, zip_strerror(z));
	if (st.size == 0 || st.size > APK_V1_ENTRY_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: %llu bytes (at most %u)", name,
				(unsigned long long)st.size, APK_V1_ENTRY_MAX);
	if (smk_buf_reserve(data, (size_t)st.size + 1) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	f = zip_fopen_index(z, i, 0);
	if (f == NULL)
		return smk_fail(e, SMK_E_FORMAT, "%s: %s", name, zip_strerror(z));
	/* one byte more than announced: a longer entry is an error too */
	got = zip_fread(f, data->data, st.size + 1);
	if (got < 0) {
		smk_fail(e, SMK_E_FORMAT, "%s: %s", name, zip_file_strerror(f));
		zip_fclose(f);
		return -1;
	}
	zip_fclose(f);
	if ((zip_uint64_t)got != st.size)
		return smk_fail(e, SMK_E_FORMAT, "%s: %lld bytes where %llu are announced", name,
				(long long)got, (unsigned long long)st.size);
	data->len = (size_t)got;
	return 0;
}

static int read_v1(const uint8_t *p, size_t n, apk_signers *out, smk_err *e)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *z;
	zip_int64_t count, i;
	smk_buf data = SMK_BUF_INIT;
	const char *name;
	int rc = 0;

	zip_error_init(&ze);
	src = zip_source_buffer_create(p, n, 0, &ze);
	if (src == NULL) {
		rc = smk_fail(e, SMK_E_NOMEM, "ZIP: %s", zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return rc;
	}
	z = zip_open_from_source(src, ZIP_RDONLY, &ze);
	if (z == NULL) {
		rc = smk_fail(e, SMK_E_FORMAT, "ZIP: %s", zip_error_strerror(&ze));
		zip_source_free(src);
		zip_error_fini(&ze);
		return rc;
	}
	zip_error_fini(&ze);
	count = zip_get_num_entries(z, 0);
	for (i = 0; i < count && rc == 0; i++) {
		name = zip_get_name(z, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
		if (name == NULL || !is_v1_block(name))
			continue;
		smk_buf_reset(&data);
		if (read_entry(z, (zip_uint64_t)i, name, &data, e) < 0 ||
		    apk_parse_v1_block(name, data.data, data.len, out, e) < 0)
			rc = smk_context(e, "v1 (JAR signing), ZIP entry %lld", (long long)i);
	}
	smk_buf_free(&data);
	zip_discard(z);
	return rc;
}

/* ---- the file ---- */

/* The End of Central Directory: the last record whose comment ends the file. */
static int find_eocd(const uint8_t *p, size_t n, size_t *at, smk_err *e)
{
	size_t pos, lowest;

	if (n < EOCD_LEN)
		return smk_fail(e, SMK_E_FORMAT,
				"ZIP: %zu bytes, shorter than an End of Central Directory", n);
	lowest = n - EOCD_LEN > EOCD_COMMENT_MAX ? n - EOCD_LEN - EOCD_COMMENT_MAX : 0;
	for (pos = n - EOCD_LEN + 1; pos-- > lowest;)
		if (le32(p + pos) == EOCD_SIG && le16(p + pos + 20) == n - pos - EOCD_LEN) {
			*at = pos;
			return 0;
		}
	return smk_fail(e, SMK_E_FORMAT,
			"ZIP: no End of Central Directory in the last %zu bytes (not a ZIP, or "
			"truncated)",
			n - lowest);
}

int apk_read_signers(const uint8_t *p, size_t n, apk_signers *out, smk_err *e)
{
	size_t eocd = 0;
	uint64_t cd_off, cd_size, size, start;

	memset(out, 0, sizeof(*out));
	smk_err_clear(e);
	if (find_eocd(p, n, &eocd, e) < 0)
		return -1;
	cd_size = le32(p + eocd + 12);
	cd_off = le32(p + eocd + 16);
	if (cd_off == 0xffffffffU || cd_size == 0xffffffffU)
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"ZIP: End of Central Directory at offset %zu points to ZIP64, "
				"which APKs do not use",
				eocd);
	if (cd_off + cd_size != eocd)
		return smk_fail(e, SMK_E_FORMAT,
				"ZIP: central directory at offset %llu, %llu bytes, does not end "
				"at the End of Central Directory (offset %zu)",
				(unsigned long long)cd_off, (unsigned long long)cd_size, eocd);
	if (read_v1(p, n, out, e) < 0)
		goto fail;
	if (cd_off >= 8 + FOOTER_LEN && memcmp(p + cd_off - 16, block_magic, 16) == 0) {
		size = le64(p + cd_off - FOOTER_LEN);
		if (size < FOOTER_LEN || size > cd_off - 8) {
			smk_fail(e, SMK_E_FORMAT,
				 "APK Signing Block ending at offset %llu: size %llu, but only "
				 "%llu bytes are before it",
				 (unsigned long long)cd_off, (unsigned long long)size,
				 (unsigned long long)(cd_off - 8));
			goto fail;
		}
		start = cd_off - size - 8;
		if (apk_parse_signing_block(p + start, (size_t)(size + 8), start, out, e) < 0)
			goto fail;
	}
	return 0;
fail:
	apk_signers_free(out);
	return -1;
}

int apk_read_file(const char *path, apk_signers *out, smk_err *e)
{
	struct stat st;
	void *map;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "cannot open: %s", strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return smk_fail(e, SMK_E_IO, "not a regular file");
	}
	if (st.st_size == 0 ||
	    (uint64_t)st.st_size > (uint64_t)UINT32_MAX + EOCD_LEN + EOCD_COMMENT_MAX) {
		close(fd);
		return smk_fail(e, SMK_E_FORMAT, "%lld bytes is not an APK", (long long)st.st_size);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return smk_fail(e, SMK_E_IO, "cannot map: %s", strerror(errno));
	rc = apk_read_signers(map, (size_t)st.st_size, out, e);
	munmap(map, (size_t)st.st_size);
	return rc;
}
