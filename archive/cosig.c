/* SPDX-License-Identifier: BSD-3-Clause */
/* Witness cosignatures (c2sp.org/tlog-cosignature type 0x04) and verifier keys. */
#include "cosig.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../common/sigcount.h"
#include "internal.h"
#include "vkey.h"

/* U+2014 EM DASH and a space start every note signature line (signed-note) */
static const uint8_t dash[] = {0xe2, 0x80, 0x94, ' '};

/* signed-note key names (vkey.h), and of those the printable ASCII subset:
 * every witness name in use is a schema-less URL. */
static int name_ok(const uint8_t *s, size_t n)
{
	size_t i, at;

	if (n > COSIG_NAME_MAX || vkey_name_check((const char *)s, n, &at) != VKEY_NAME_OK)
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] >= 0x80)
			return 0;
	return 1;
}

int cosig_key_id(const char *name, const uint8_t pub[32], uint8_t id[4], smk_err *e)
{
	smk_buf m = SMK_BUF_INIT;
	uint8_t h[32];
	int rc;

	if (smk_buf_add(&m, name, strlen(name)) < 0 || smk_buf_add_byte(&m, '\n') < 0 ||
	    smk_buf_add_byte(&m, COSIG_TYPE_ED25519) < 0 || smk_buf_add(&m, pub, 32) < 0) {
		smk_buf_free(&m);
		return smk_fail(e, SMK_E_NOMEM, "witness key: out of memory");
	}
	rc = smk_sha256(m.data, m.len, h, e);
	smk_buf_free(&m);
	if (rc == 0)
		memcpy(id, h, 4);
	return rc;
}

int cosig_key_parse(const char *s, size_t len, cosig_key *k, smk_err *e)
{
	vkey_parts v;
	smk_buf raw = SMK_BUF_INIT;
	uint8_t id[4], want[4];

	memset(k, 0, sizeof(*k));
	if (vkey_split(s, len, &v) < 2)
		return smk_fail(e, SMK_E_FORMAT,
				"witness key: not a verifier key (NAME+KEYID+BASE64)");
	if (!name_ok((const uint8_t *)v.name, v.name_len))
		return smk_fail(e, SMK_E_FORMAT,
				"witness key: name must be 1 to %d printable ASCII characters, no "
				"space or '+'",
				COSIG_NAME_MAX);
	memcpy(k->name, v.name, v.name_len);
	if (vkey_id(v.id, v.id_len, id) < 0)
		return smk_fail(e, SMK_E_FORMAT, "witness key %s: key ID must be 8 hex digits",
				k->name);
	if (smk_b64_decode(v.key, v.key_len, &raw, "witness key", e) < 0)
		return smk_context(e, "witness key %s", k->name);
	if (raw.len != 33 || raw.data[0] != COSIG_TYPE_ED25519) {
		int type = raw.len ? raw.data[0] : -1;
		size_t key_bytes = raw.len ? raw.len - 1 : 0; /* read before the free */

		smk_buf_free(&raw);
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"witness key %s: type 0x%02x with %zu key bytes; a witness key is "
				"type 0x04 (Ed25519 cosignature) with 32",
				k->name, type & 0xff, key_bytes);
	}
	memcpy(k->pub, raw.data + 1, 32);
	smk_buf_free(&raw);
	if (cosig_key_id(k->name, k->pub, want, e) < 0)
		return -1;
	if (memcmp(id, want, 4) != 0)
		return smk_fail(
		    e, SMK_E_MISMATCH,
		    "witness key %s: key ID %02x%02x%02x%02x is not the one of its name "
		    "and key (%02x%02x%02x%02x)",
		    k->name, id[0], id[1], id[2], id[3], want[0], want[1], want[2], want[3]);
	memcpy(k->key_id, id, 4);
	return 0;
}

int cosig_key_format(const cosig_key *k, char *out, size_t cap, smk_err *e)
{
	uint8_t raw[33];
	char b64[48];
	int n;

	raw[0] = COSIG_TYPE_ED25519;
	memcpy(raw + 1, k->pub, 32);
	EVP_EncodeBlock((unsigned char *)b64, raw, 33);
	n = snprintf(out, cap, "%s+%02x%02x%02x%02x+%s", k->name, k->key_id[0], k->key_id[1],
		     k->key_id[2], k->key_id[3], b64);
	if (n < 0 || (size_t)n >= cap)
		return smk_fail(e, SMK_E_ARG, "witness key %s: too long to print", k->name);
	return 0;
}

int cosig_parse_line(const uint8_t *line, size_t len, cosig *c, smk_err *e)
{
	const uint8_t *name, *sp;
	smk_buf raw = SMK_BUF_INIT;
	size_t name_len, i;

	memset(c, 0, sizeof(*c));
	if (len < sizeof(dash) || memcmp(line, dash, sizeof(dash)) != 0)
		return smk_fail(e, SMK_E_FORMAT,
				"cosignature: a signature line starts with U+2014 and a space");
	name = line + sizeof(dash);
	sp = memchr(name, ' ', len - sizeof(dash));
	if (!sp)
		return smk_fail(e, SMK_E_FORMAT,
				"cosignature: no space between key name and signature");
	name_len = (size_t)(sp - name);
	if (!name_ok(name, name_len))
		return smk_fail(e, SMK_E_FORMAT,
				"cosignature: key name must be 1 to %d printable ASCII characters",
				COSIG_NAME_MAX);
	memcpy(c->name, name, name_len);
	if (smk_b64_decode((const char *)sp + 1, len - (size_t)(sp + 1 - line), &raw, "cosignature",
			   e) < 0)
		return smk_context(e, "cosignature by %s", c->name);
	if (raw.len != COSIG_SIG_LEN) {
		size_t got = raw.len;

		smk_buf_free(&raw);
		return smk_fail(e, SMK_E_FORMAT,
				"cosignature by %s: %zu bytes; a type 0x04 cosignature is %d (key "
				"ID, timestamp, Ed25519 signature)",
				c->name, got, COSIG_SIG_LEN);
	}
	memcpy(c->key_id, raw.data, 4);
	/* tlog-cosignature: u64 timestamp, big endian, at most 2^63 - 1 */
	for (i = 0; i < 8; i++)
		c->time = c->time << 8 | raw.data[4 + i];
	memcpy(c->sig, raw.data + 12, 64);
	smk_buf_free(&raw);
	if (c->time > (uint64_t)INT64_MAX)
		return smk_fail(e, SMK_E_FORMAT,
				"cosignature by %s: timestamp %" PRIu64 " is beyond 2^63 - 1",
				c->name, c->time);
	return 0;
}

int cosig_by(const cosig *c, const cosig_key *k)
{
	return strcmp(c->name, k->name) == 0 && memcmp(c->key_id, k->key_id, 4) == 0;
}

int cosig_verify(const cosig *c, const cosig_key *k, const uint8_t *text, size_t text_len,
		 int64_t not_after, smk_err *e)
{
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *md = NULL;
	smk_buf msg = SMK_BUF_INIT;
	char head[64];
	int n, rc = -1;

	if (!cosig_by(c, k))
		return smk_fail(e, SMK_E_MISMATCH,
				"cosignature by %s (key ID %02x%02x%02x%02x) is not by witness %s",
				c->name, c->key_id[0], c->key_id[1], c->key_id[2], c->key_id[3],
				k->name);
	if (not_after && c->time > (uint64_t)not_after)
		return smk_fail(e, SMK_E_VALIDITY,
				"cosignature by %s: timestamp %" PRIu64 " is in the future",
				c->name, c->time);
	/* "cosignature/v1\ntime <decimal>\n" then the note text, final newline included */
	n = snprintf(head, sizeof(head), "cosignature/v1\ntime %" PRIu64 "\n", c->time);
	if (smk_buf_add(&msg, head, (size_t)n) < 0 || smk_buf_add(&msg, text, text_len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "cosignature: out of memory");
		goto out;
	}
	pk = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->pub, 32);
	md = EVP_MD_CTX_new();
	if (!pk || !md || EVP_DigestVerifyInit(md, NULL, NULL, NULL, pk) != 1) {
		smk_fail(e, SMK_E_CRYPTO, "cosignature by %s: cannot set up Ed25519", c->name);
		goto out;
	}
	smk_sigcount_note(pk);
	if (EVP_DigestVerify(md, c->sig, 64, msg.data, msg.len) != 1) {
		smk_fail(e, SMK_E_SIGNATURE,
			 "cosignature by %s (time %" PRIu64 "): Ed25519 signature does not verify",
			 c->name, c->time);
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	smk_buf_free(&msg);
	return rc;
}

int cosig_note_split(const uint8_t *note, size_t len, size_t *text_len, size_t *sigs_at, smk_err *e)
{
	size_t i, split = 0;

	for (i = 0; i < len; i++)
		if (note[i] < 0x20 && note[i] != '\n')
			return smk_fail(e, SMK_E_FORMAT,
					"checkpoint: control character at byte %zu", i);
	/* as archive_checkpoint_open: the text ends at the last blank line */
	for (i = 1; i < len; i++)
		if (note[i] == '\n' && note[i - 1] == '\n')
			split = i;
	if (split == 0 || note[len - 1] != '\n')
		return smk_fail(e, SMK_E_FORMAT,
				"checkpoint: not a signed note (no signature lines)");
	*text_len = split;
	*sigs_at = split + 1;
	return 0;
}

int cosig_check_note(const uint8_t *note, size_t len, const cosig_key *keys, size_t n,
		     int64_t not_after, cosig_result *res, size_t *valid, smk_err *e)
{
	size_t text_len, pos, i;

	*valid = 0;
	for (i = 0; i < n; i++) {
		memset(&res[i], 0, sizeof(res[i]));
		snprintf(res[i].why, sizeof(res[i].why), "no cosignature by %s on the checkpoint",
			 keys[i].name);
	}
	if (cosig_note_split(note, len, &text_len, &pos, e) < 0)
		return -1;
	while (pos < len) {
		const uint8_t *line = note + pos, *nl = memchr(line, '\n', len - pos);
		size_t line_len = (size_t)(nl - line);
		smk_err le;
		cosig c;

		pos += line_len + 1;
		/* a line that is no cosignature (the log's own ECDSA signature,
		 * another type) is somebody else's: ignored */
		if (cosig_parse_line(line, line_len, &c, &le) < 0)
			continue;
		for (i = 0; i < n; i++) {
			if (!cosig_by(&c, &keys[i]) || res[i].status == COSIG_OK)
				continue;
			if (cosig_verify(&c, &keys[i], note, text_len, not_after, &le) == 0) {
				res[i].status = COSIG_OK;
				res[i].time = c.time;
				res[i].why[0] = '\0';
			} else {
				res[i].status = COSIG_BAD;
				snprintf(res[i].why, sizeof(res[i].why), "%s", le.msg);
			}
		}
	}
	for (i = 0; i < n; i++)
		if (res[i].status == COSIG_OK)
			(*valid)++;
	return 0;
}

void cosig_policy_init(cosig_policy *p)
{
	memset(p, 0, sizeof(*p));
	p->quorum = -1;
}

int cosig_policy_add(cosig_policy *p, const char *vkey, smk_err *e)
{
	cosig_key k;
	size_t i;

	if (cosig_key_parse(vkey, strlen(vkey), &k, e) < 0)
		return -1;
	for (i = 0; i < p->n; i++) {
		if (strcmp(p->keys[i].name, k.name) != 0)
			continue;
		if (memcmp(p->keys[i].pub, k.pub, 32) == 0)
			return 0; /* the same witness twice is one witness */
		return smk_fail(e, SMK_E_ARG, "witness %s: two different keys for one name",
				k.name);
	}
	if (p->n == COSIG_KEYS_MAX)
		return smk_fail(e, SMK_E_ARG, "more than %d witness keys", COSIG_KEYS_MAX);
	p->keys[p->n++] = k;
	return 0;
}

int cosig_policy_load(cosig_policy *p, const uint8_t *text, size_t len, const char *path,
		      smk_err *e)
{
	vkey_lines lines;
	const char *l;
	size_t n;
	int seen_quorum = 0;

	vkey_lines_init(&lines, text, len, 1);
	while (vkey_lines_next(&lines, &l, &n)) {
		char buf[512];

		if (n >= sizeof(buf) || memchr(l, '\0', n))
			return smk_fail(e, SMK_E_FORMAT, "%s:%zu: line too long", path, lines.no);
		memcpy(buf, l, n);
		buf[n] = '\0';
		if (strncmp(buf, "quorum", 6) == 0 && (buf[6] == ' ' || buf[6] == '\t')) {
			char *s = buf + 7, *endp;
			long q;

			while (*s == ' ' || *s == '\t')
				s++;
			q = strtol(s, &endp, 10);
			if (seen_quorum)
				return smk_fail(e, SMK_E_FORMAT, "%s:%zu: a second quorum line",
						path, lines.no);
			if (*s < '0' || *s > '9' || *endp != '\0' || q < 1 || q > COSIG_KEYS_MAX)
				return smk_fail(e, SMK_E_FORMAT,
						"%s:%zu: quorum must be a number from 1 to %d",
						path, lines.no, COSIG_KEYS_MAX);
			seen_quorum = 1;
			p->quorum = q;
			continue;
		}
		if (cosig_policy_add(p, buf, e) < 0)
			return smk_context(e, "%s:%zu", path, lines.no);
	}
	return 0;
}
