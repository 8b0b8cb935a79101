/* SPDX-License-Identifier: BSD-3-Clause */
/* C2SP tlog-checkpoint notes signed with the archive key (C2SP signed-note). */
#include "checkpoint.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sm/cvc.h"
#include "cosig.h"
#include "internal.h"

/* c2sp.org/signed-note: signature type 0x02, key ID over the SPKI DER */
static int key_fingerprint(EVP_PKEY *pub, uint8_t out[32], smk_err *e)
{
	smk_buf spki = SMK_BUF_INIT;
	int rc = cvc_spki_der(pub, &spki, e) < 0 ? -1 : smk_sha256(spki.data, spki.len, out, e);

	smk_buf_free(&spki);
	return rc;
}

int archive_checkpoint_origin(EVP_PKEY *pub, char origin[ARCHIVE_ORIGIN_MAX], smk_err *e)
{
	uint8_t fp[32];
	char hex[17];

	if (key_fingerprint(pub, fp, e) < 0)
		return -1;
	smk_hex_to(hex, fp, 8, SMK_HEX_LOWER);
	snprintf(origin, ARCHIVE_ORIGIN_MAX, "smkeyd/%s", hex);
	return 0;
}

static int body(const archive_checkpoint *c, smk_buf *out, smk_err *e)
{
	char line[ARCHIVE_ORIGIN_MAX + 32];
	char root[45];
	int n;

	EVP_EncodeBlock((unsigned char *)root, c->root, 32);
	n = snprintf(line, sizeof(line), "%s\n%" PRIu64 "\n", c->origin, c->size);
	if (n < 0 || (size_t)n >= sizeof(line))
		return smk_fail(e, SMK_E_ARG, "checkpoint: origin too long");
	if (smk_buf_add(out, line, (size_t)n) < 0 || smk_buf_add(out, root, strlen(root)) < 0 ||
	    smk_buf_add_byte(out, '\n') < 0)
		return smk_fail(e, SMK_E_NOMEM, "checkpoint: out of memory");
	return 0;
}

/* The signed note: text, blank line, "— <key name> <signature>" (U+2014 em
 * dash), the signature in base64. */
static int note_write(smk_buf *note, const smk_buf *text, const char *origin, const smk_buf *sig,
		      smk_err *e)
{
	char *b64 = malloc(4 * ((sig->len + 2) / 3) + 1);
	int rc;

	if (!b64)
		return smk_fail(e, SMK_E_NOMEM, "checkpoint: out of memory");
	EVP_EncodeBlock((unsigned char *)b64, sig->data, (int)sig->len);
	rc = 0;
	if (smk_buf_add(note, text->data, text->len) < 0 ||
	    smk_buf_add(note, "\n\xe2\x80\x94 ", 5) < 0 ||
	    smk_buf_add(note, origin, strlen(origin)) < 0 || smk_buf_add_byte(note, ' ') < 0 ||
	    smk_buf_add(note, b64, strlen(b64)) < 0 || smk_buf_add_byte(note, '\n') < 0)
		rc = smk_fail(e, SMK_E_NOMEM, "checkpoint: out of memory");
	free(b64);
	return rc;
}

int archive_checkpoint_sign(const archive_checkpoint *c, const archive_signer *s, smk_buf *note,
			    smk_err *e)
{
	char origin[ARCHIVE_ORIGIN_MAX];
	uint8_t fp[32];
	smk_buf text = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	int rc = -1;

	if (archive_checkpoint_origin(s->pub, origin, e) < 0 || key_fingerprint(s->pub, fp, e) < 0)
		return -1;
	if (strcmp(origin, c->origin) != 0)
		return smk_fail(e, SMK_E_MISMATCH, "checkpoint: origin %s is not the signer's %s",
				c->origin, origin);
	if (body(c, &text, e) < 0)
		goto out;
	/* signature = key ID (4 bytes) || DER ECDSA signature */
	if (smk_buf_add(&sig, fp, 4) < 0) {
		smk_fail(e, SMK_E_NOMEM, "checkpoint: out of memory");
		goto out;
	}
	if (s->sign(s->ctx, text.data, text.len, &sig, e) < 0) {
		smk_context(e, "checkpoint %" PRIu64, c->size);
		goto out;
	}
	rc = note_write(note, &text, origin, &sig, e);
out:
	smk_buf_free(&text);
	smk_buf_free(&sig);
	return rc;
}

/* Next line of p[*pos..n) without its '\n'; -1 when there is no '\n'. */
static int next_line(const uint8_t *p, size_t n, size_t *pos, const uint8_t **line, size_t *len)
{
	const uint8_t *nl;

	if (*pos >= n)
		return -1;
	nl = memchr(p + *pos, '\n', n - *pos);
	if (!nl)
		return -1;
	*line = p + *pos;
	*len = (size_t)(nl - (p + *pos));
	*pos += *len + 1;
	return 0;
}

static int parse_size(const uint8_t *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0 || len > 19 || (len > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

static int parse_body(const uint8_t *text, size_t len, archive_checkpoint *c, smk_err *e)
{
	const uint8_t *line;
	smk_buf root = SMK_BUF_INIT;
	size_t pos = 0, n;

	if (next_line(text, len, &pos, &line, &n) < 0 || n == 0 || n >= ARCHIVE_ORIGIN_MAX)
		return smk_fail(e, SMK_E_FORMAT, "checkpoint: bad origin line");
	memcpy(c->origin, line, n);
	c->origin[n] = '\0';
	if (next_line(text, len, &pos, &line, &n) < 0 || parse_size(line, n, &c->size) < 0)
		return smk_fail(e, SMK_E_FORMAT, "checkpoint: bad tree size line");
	if (next_line(text, len, &pos, &line, &n) < 0 ||
	    smk_b64_decode((const char *)line, n, &root, "checkpoint root hash", e) < 0 ||
	    root.len != 32) {
		smk_buf_free(&root);
		return smk_fail(e, SMK_E_FORMAT, "checkpoint: bad root hash line");
	}
	memcpy(c->root, root.data, 32);
	smk_buf_free(&root);
	/* further lines are tlog-checkpoint extension lines: signed, not interpreted */
	return 0;
}

int archive_checkpoint_key_init(archive_checkpoint_key *k, EVP_PKEY *pub, smk_err *e)
{
	memset(k, 0, sizeof(*k));
	k->pub = pub;
	if (archive_checkpoint_origin(pub, k->origin, e) < 0 || key_fingerprint(pub, k->fp, e) < 0)
		return -1;
	return 0;
}

int archive_checkpoint_open(const uint8_t *note, size_t len, EVP_PKEY *pub, archive_checkpoint *out,
			    smk_err *e)
{
	archive_checkpoint_key k;

	memset(out, 0, sizeof(*out));
	if (archive_checkpoint_key_init(&k, pub, e) < 0)
		return -1;
	return archive_checkpoint_open_key(note, len, &k, out, e);
}

int archive_checkpoint_open_key(const uint8_t *note, size_t len, const archive_checkpoint_key *k,
				archive_checkpoint *out, smk_err *e)
{
	static const uint8_t dash[] = "\xe2\x80\x94 ";
	const char *origin = k->origin;
	const uint8_t *fp = k->fp;
	EVP_PKEY *pub = k->pub;
	size_t split = 0, pos;
	const uint8_t *line;
	size_t n;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (len > ARCHIVE_NOTE_MAX)
		return smk_fail(e, SMK_E_FORMAT, "checkpoint: %zu bytes is too long", len);
	/* C2SP signed-note: no control characters but newline; the text ends
	 * at the last blank line */
	if (cosig_note_split(note, len, &split, &pos, e) < 0 || parse_body(note, split, out, e) < 0)
		return -1;
	if (strcmp(origin, out->origin) != 0)
		return smk_fail(e, SMK_E_MISMATCH,
				"checkpoint: origin %s is not the archive key's (%s)", out->origin,
				origin);
	while (next_line(note, len, &pos, &line, &n) == 0) {
		const uint8_t *name, *sp;
		smk_buf sig = SMK_BUF_INIT;
		size_t name_len;

		if (n < sizeof(dash) - 1 || memcmp(line, dash, sizeof(dash) - 1) != 0)
			return smk_fail(e, SMK_E_FORMAT, "checkpoint: malformed signature line");
		name = line + sizeof(dash) - 1;
		sp = memchr(name, ' ', n - (size_t)(name - line));
		if (!sp)
			return smk_fail(e, SMK_E_FORMAT, "checkpoint: malformed signature line");
		name_len = (size_t)(sp - name);
		if (smk_b64_decode((const char *)sp + 1, n - (size_t)(sp + 1 - line), &sig,
				   "checkpoint signature", e) < 0)
			return -1;
		/* C2SP: only the (key name, key ID) we know counts; others are ignored */
		if (sig.len > 4 && name_len == strlen(origin) &&
		    memcmp(name, origin, name_len) == 0 && memcmp(sig.data, fp, 4) == 0) {
			int rc = archive_sig_verify(pub, note, split, sig.data + 4, sig.len - 4, e);

			smk_buf_free(&sig);
			if (rc < 0)
				return smk_context(e, "checkpoint %s size %" PRIu64, out->origin,
						   out->size);
			found = 1;
			continue;
		}
		smk_buf_free(&sig);
	}
	if (pos != len)
		return smk_fail(e, SMK_E_FORMAT, "checkpoint: trailing bytes after the signatures");
	if (!found)
		return smk_fail(e, SMK_E_SIGNATURE,
				"checkpoint: no signature by the archive key %s", origin);
	return 0;
}
