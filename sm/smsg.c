/* SPDX-License-Identifier: BSD-3-Clause */
#include "smsg.h"

#include <openssl/crypto.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "tlv.h"

#define SM_CLA_BITS 0x0C
#define DO_CRYPTO_ODD 0x85 /* cryptogram, no indicator: odd INS (BER-TLV data) */
#define DO_CRYPTO 0x87	   /* padding-content indicator then cryptogram */
#define DO_LE 0x97
#define DO_SW 0x99
#define DO_MAC 0x8E
#define PAD_ISO 0x01 /* indicator: ISO/IEC 7816-4 padding (80 00 ...) */

struct smsg_ctx {
	uint8_t k_enc[SMSG_KEY_LEN];
	uint8_t k_mac[SMSG_KEY_LEN];
	uint8_t ssc[SMSG_BLOCK];
	bool failed;
};

smsg_ctx *smsg_new(const uint8_t k_enc[SMSG_KEY_LEN], const uint8_t k_mac[SMSG_KEY_LEN], smk_err *e)
{
	smsg_ctx *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		smk_fail(e, SMK_E_NOMEM, "secure messaging: out of memory");
		return NULL;
	}
	memcpy(c->k_enc, k_enc, SMSG_KEY_LEN);
	memcpy(c->k_mac, k_mac, SMSG_KEY_LEN);
	return c;
}

void smsg_free(smsg_ctx *c)
{
	if (c == NULL)
		return;
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

bool smsg_usable(const smsg_ctx *c)
{
	return c != NULL && !c->failed;
}

int smsg_cmac8(const uint8_t key[SMSG_KEY_LEN], const uint8_t *in, size_t n,
	       uint8_t mac[SMSG_MAC_LEN], smk_err *e)
{
	uint8_t full[SMSG_BLOCK];
	size_t full_len = 0;

	if (EVP_Q_mac(NULL, "CMAC", NULL, "AES-128-CBC", NULL, key, SMSG_KEY_LEN, in, n, full,
		      sizeof(full), &full_len) == NULL ||
	    full_len != sizeof(full))
		return smk_fail(e, SMK_E_CRYPTO, "AES-CMAC: OpenSSL failed");
	memcpy(mac, full, SMSG_MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return 0;
}

static int usable(const smsg_ctx *c, smk_err *e)
{
	if (c == NULL)
		return smk_fail(e, SMK_E_ARG, "secure messaging: no session");
	if (c->failed)
		return smk_fail(e, SMK_E_SM,
				"secure channel closed after an earlier error; chip authentication "
				"must be run again");
	return 0;
}

/* ref §5.5: incremented before every command and every response */
static int ssc_step(smsg_ctx *c, smk_err *e)
{
	int i;

	for (i = SMSG_BLOCK - 1; i >= 0; i--)
		if (++c->ssc[i] != 0)
			return 0;
	return smk_fail(e, SMK_E_SM, "send sequence counter exhausted");
}

/* AES-128-CBC with IV = AES-ECB(K_enc, SSC) (ref §5.5), no cipher padding:
 * n is a multiple of the block size. */
static int aes_cbc(const smsg_ctx *c, int encrypt, const uint8_t *in, size_t n, uint8_t *out,
		   smk_err *e)
{
	static const uint8_t zero_iv[SMSG_BLOCK];
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	uint8_t iv[SMSG_BLOCK];
	int l1 = 0, l2 = 0, ok;

	ok = x != NULL && n % SMSG_BLOCK == 0 && n <= INT_MAX &&
	     EVP_EncryptInit_ex(x, EVP_aes_128_cbc(), NULL, c->k_enc, zero_iv) == 1 &&
	     EVP_CIPHER_CTX_set_padding(x, 0) == 1 &&
	     EVP_EncryptUpdate(x, iv, &l1, c->ssc, SMSG_BLOCK) == 1 && l1 == SMSG_BLOCK &&
	     EVP_CipherInit_ex(x, EVP_aes_128_cbc(), NULL, c->k_enc, iv, encrypt) == 1 &&
	     EVP_CIPHER_CTX_set_padding(x, 0) == 1 &&
	     EVP_CipherUpdate(x, out, &l1, in, (int)n) == 1 &&
	     EVP_CipherFinal_ex(x, out + l1, &l2) == 1 && (size_t)l1 + (size_t)l2 == n;
	EVP_CIPHER_CTX_free(x);
	OPENSSL_cleanse(iv, sizeof(iv));
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "AES-CBC: OpenSSL failed");
	return 0;
}

/* ISO/IEC 7816-4 padding: 80 then 00 up to the next block boundary of the
 * whole buffer (always at least one byte). */
static int pad_iso(smk_buf *b)
{
	static const uint8_t zeros[SMSG_BLOCK];

	if (smk_buf_add_byte(b, 0x80) < 0)
		return -1;
	return smk_buf_add(b, zeros, (SMSG_BLOCK - b->len % SMSG_BLOCK) % SMSG_BLOCK);
}

static size_t padded_len(size_t n)
{
	return (n / SMSG_BLOCK + 1) * SMSG_BLOCK;
}

/* MAC input of ref §5.6 step 5 / §5.7 step 2: SSC, then the padded header
 * (commands only), then the padded data objects (when there are any). */
static int mac_compute(const smsg_ctx *c, const uint8_t *hdr, const uint8_t *dos, size_t dos_len,
		       uint8_t mac[SMSG_MAC_LEN], smk_err *e)
{
	smk_buf m = SMK_BUF_INIT;
	int r = 0;

	r |= smk_buf_add(&m, c->ssc, SMSG_BLOCK);
	if (hdr != NULL) {
		r |= smk_buf_add(&m, hdr, 4);
		r |= pad_iso(&m);
	}
	if (dos_len > 0) {
		r |= smk_buf_add(&m, dos, dos_len);
		r |= pad_iso(&m);
	}
	if (r < 0) {
		smk_buf_free(&m);
		return smk_fail(e, SMK_E_NOMEM, "MAC input: out of memory");
	}
	r = smsg_cmac8(c->k_mac, m.data, m.len, mac, e);
	smk_buf_free(&m);
	return r;
}

static int mac_verify(const smsg_ctx *c, const uint8_t *hdr, const uint8_t *dos, size_t dos_len,
		      const tlv *mac_do, smk_err *e)
{
	uint8_t want[SMSG_MAC_LEN];
	int same;

	if (mac_do->len != SMSG_MAC_LEN)
		return smk_fail(e, SMK_E_SM, "DO8E holds %zu bytes, a MAC has %d", mac_do->len,
				SMSG_MAC_LEN);
	if (mac_compute(c, hdr, dos, dos_len, want, e) < 0)
		return -1;
	same = CRYPTO_memcmp(want, mac_do->value, SMSG_MAC_LEN) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	if (!same)
		return smk_fail(e, SMK_E_SM,
				"MAC does not verify (tampered, replayed or out of order)");
	return 0;
}

/* Append the cryptogram DO for data: pad, encrypt, wrap in DO87 (with the
 * 01 indicator) or DO85 (without). */
static int put_cryptogram(const smsg_ctx *c, uint32_t tag, const uint8_t *data, size_t len,
			  smk_buf *out, smk_err *e)
{
	smk_buf p = SMK_BUF_INIT;
	uint8_t *ct = NULL;
	size_t mark;
	int r = -1;

	p.secret = 1;
	if (smk_buf_add(&p, data, len) < 0 || pad_iso(&p) < 0 || (ct = malloc(p.len)) == NULL) {
		smk_fail(e, SMK_E_NOMEM, "encrypting data: out of memory");
		goto done;
	}
	if (aes_cbc(c, 1, p.data, p.len, ct, e) < 0)
		goto done;
	if (tlv_begin(out, tag, &mark) < 0 ||
	    (tag == DO_CRYPTO && smk_buf_add_byte(out, PAD_ISO) < 0) ||
	    smk_buf_add(out, ct, p.len) < 0 || tlv_end(out, mark) < 0) {
		smk_fail(e, SMK_E_NOMEM, "encrypting data: out of memory");
		goto done;
	}
	r = 0;
done:
	smk_buf_free(&p);
	free(ct);
	return r;
}

/* Decrypt DO87/DO85 and strip the ISO padding into out (secret). The MAC has
 * been verified before this runs, so padding errors are not an oracle. */
static int take_cryptogram(const smsg_ctx *c, const tlv *t, smk_buf *out, smk_err *e)
{
	const uint8_t *ct = t->value;
	size_t n = t->len, ct_len;
	uint8_t *pt;

	if (t->tag == DO_CRYPTO) {
		if (n == 0 || ct[0] != PAD_ISO)
			return smk_fail(e, SMK_E_SM,
					"DO87 padding-content indicator %s%02X, expected 01",
					n == 0 ? "missing, " : "", n == 0 ? 0 : ct[0]);
		ct++;
		n--;
	}
	if (n == 0 || n % SMSG_BLOCK != 0)
		return smk_fail(e, SMK_E_SM, "DO%X cryptogram of %zu bytes is not whole AES blocks",
				t->tag, n);
	ct_len = n;
	smk_buf_reset(out);
	out->secret = 1;
	if (smk_buf_reserve(out, n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "decrypting data: out of memory");
	pt = out->data;
	if (aes_cbc(c, 0, ct, n, pt, e) < 0)
		return -1;
	/* ref §5.7 step 3: scan back over 00 to the 80; pico may pad with 17 bytes */
	while (n > 0 && pt[n - 1] == 0x00)
		n--;
	if (n == 0 || pt[n - 1] != 0x80) {
		OPENSSL_cleanse(pt, ct_len);
		return smk_fail(e, SMK_E_SM, "DO%X: bad padding after decryption", t->tag);
	}
	out->len = n - 1;
	return 0;
}

/* ---- host side ------------------------------------------------------------ */

static int wrap_command(smsg_ctx *c, const apdu *a, smk_buf *out, smk_err *e)
{
	/* same rule as apdu_encode: the plain command is extended if asked or if
	 * its sizes need it; DO97 then carries a 2-byte Le */
	bool ext = a->extended || a->lc > APDU_SHORT_MAX_LC || a->ne > APDU_SHORT_MAX_NE;
	uint8_t hdr[4] = {(uint8_t)(a->cla | SM_CLA_BITS), a->ins, a->p1, a->p2};
	uint8_t mac[SMSG_MAC_LEN], le[2];
	smk_buf body = SMK_BUF_INIT;
	apdu p;
	int r = -1;

	if (ssc_step(c, e) < 0)
		return -1;
	if (a->lc > 0 && put_cryptogram(c, (a->ins & 1) ? DO_CRYPTO_ODD : DO_CRYPTO, a->data, a->lc,
					&body, e) < 0)
		goto done;
	if (a->ne > 0) {
		/* ref §5.6 step 4: 00 / 0000 stand for 256 / 65536 */
		le[0] = (uint8_t)(a->ne >> 8);
		le[1] = (uint8_t)a->ne;
		if (tlv_put(&body, DO_LE, ext ? le : le + 1, ext ? 2 : 1) < 0)
			goto nomem;
	}
	if (mac_compute(c, hdr, body.data, body.len, mac, e) < 0)
		goto done;
	if (tlv_put(&body, DO_MAC, mac, sizeof(mac)) < 0)
		goto nomem;
	ext = ext || body.len > APDU_SHORT_MAX_LC;
	p = (apdu){.cla = hdr[0],
		   .ins = a->ins,
		   .p1 = a->p1,
		   .p2 = a->p2,
		   .data = body.data,
		   .lc = body.len,
		   .ne = ext ? APDU_EXT_MAX_NE : APDU_SHORT_MAX_NE,
		   .extended = ext};
	r = apdu_encode(&p, out, e);
	goto done;
nomem:
	smk_fail(e, SMK_E_NOMEM, "out of memory");
done:
	smk_buf_free(&body);
	return r;
}

size_t smsg_command_size(const apdu *plain)
{
	/* the same choices as wrap_command */
	bool ext =
	    plain->extended || plain->lc > APDU_SHORT_MAX_LC || plain->ne > APDU_SHORT_MAX_NE;
	size_t body = 2 + SMSG_MAC_LEN, crypt;

	if (plain->lc > 0) {
		crypt = padded_len(plain->lc) + ((plain->ins & 1) ? 0 : 1);
		body += 1 + tlv_len_size(crypt) + crypt;
	}
	if (plain->ne > 0)
		body += 2 + (ext ? 2 : 1);
	ext = ext || body > APDU_SHORT_MAX_LC;
	return 4 + (ext ? 3 : 1) + body + (ext ? 2 : 1);
}

int smsg_wrap_command(smsg_ctx *c, const apdu *plain, smk_buf *out, smk_err *e)
{
	size_t start = out->len, body;

	if (usable(c, e) < 0)
		return -1;
	if ((plain->cla & SM_CLA_BITS) != 0)
		return smk_fail(e, SMK_E_ARG, "SM command %02X%02X: CLA already carries SM bits",
				plain->cla, plain->ins);
	if (plain->lc > 0 && plain->data == NULL)
		return smk_fail(e, SMK_E_ARG, "SM command %02X%02X: data missing", plain->cla,
				plain->ins);
	if (plain->ne > APDU_EXT_MAX_NE)
		return smk_fail(e, SMK_E_ARG, "SM command %02X%02X: Ne %zu exceeds 65536",
				plain->cla, plain->ins, plain->ne);
	/* the protected body must itself fit an extended Lc: DO87, DO97, DO8E */
	body = 2 + SMSG_MAC_LEN + (plain->ne ? 4 : 0);
	if (plain->lc > 0)
		body += 1 + tlv_len_size(1 + padded_len(plain->lc)) + 1 + padded_len(plain->lc);
	if (plain->lc > APDU_EXT_MAX_LC || body > APDU_EXT_MAX_LC)
		return smk_fail(
		    e, SMK_E_ARG,
		    "SM command %02X%02X: %zu bytes of data do not fit one protected APDU",
		    plain->cla, plain->ins, plain->lc);
	if (wrap_command(c, plain, out, e) < 0) {
		/* the SSC has moved without a message going out: out of step */
		c->failed = true;
		out->len = start;
		return smk_context(e, "SM command %02X%02X", plain->cla, plain->ins);
	}
	return 0;
}

/* The DOs of a protected response or command, in the only order we accept:
 * [87|85] [97] [99] 8E, each at most once, 8E last. */
typedef struct sm_dos {
	tlv crypt, le, sw, mac;
	bool has_crypt, has_le, has_sw, has_mac;
	size_t mac_off; /* bytes before DO8E: what the MAC covers */
} sm_dos;

static int split_dos(const uint8_t *p, size_t n, bool command, sm_dos *d, smk_err *e)
{
	tlv_iter it;
	tlv t;
	int r, rank = 0, want; /* position in the order above: 1 crypto .. 4 MAC; 0 not allowed */

	memset(d, 0, sizeof(*d));
	tlv_iter_init(&it, p, n);
	while ((r = tlv_next(&it, &t, e)) == 1) {
		if (d->has_mac)
			return smk_fail(e, SMK_E_SM, "DO%X after DO8E", t.tag);
		switch (t.tag) {
		case DO_CRYPTO:
		case DO_CRYPTO_ODD:
			want = 1;
			d->crypt = t;
			d->has_crypt = true;
			break;
		case DO_LE:
			want = command ? 2 : 0;
			d->le = t;
			d->has_le = true;
			break;
		case DO_SW:
			want = command ? 0 : 3;
			d->sw = t;
			d->has_sw = true;
			break;
		case DO_MAC:
			want = 4;
			d->mac = t;
			d->has_mac = true;
			d->mac_off = (size_t)(t.raw - p);
			break;
		default:
			want = 0;
			break;
		}
		if (want == 0)
			return smk_fail(e, SMK_E_SM, "unexpected DO%X", t.tag);
		if (want <= rank)
			return smk_fail(e, SMK_E_SM, "DO%X repeated or out of order", t.tag);
		rank = want;
	}
	if (r < 0) {
		if (e != NULL)
			e->code = SMK_E_SM;
		return smk_context(e, "malformed SM data objects");
	}
	return 0;
}

static int unwrap_response(smsg_ctx *c, const uint8_t *resp, size_t n, smk_buf *data, uint16_t *sw,
			   smk_err *e)
{
	smk_buf plain = SMK_BUF_INIT;
	rapdu r;
	sm_dos d;

	if (ssc_step(c, e) < 0)
		return -1;
	if (rapdu_parse(resp, n, &r, e) < 0)
		return -1;
	if (split_dos(r.data, r.len, false, &d, e) < 0)
		return -1;
	if (!d.has_sw || !d.has_mac) {
		/* ref §5.7 step 5: the device no longer speaks SM */
		smk_fail(e, SMK_E_SM, "plain answer (SW %04X, %s): secure channel lost", r.sw,
			 sw_describe(r.sw));
		e->sw = r.sw;
		return -1;
	}
	if (d.sw.len != 2)
		return smk_fail(e, SMK_E_SM, "DO99 holds %zu bytes, a status word has 2", d.sw.len);
	if (mac_verify(c, NULL, r.data, d.mac_off, &d.mac, e) < 0)
		return -1;
	if (d.has_crypt && take_cryptogram(c, &d.crypt, &plain, e) < 0) {
		smk_buf_free(&plain);
		return -1;
	}
	if (smk_buf_add(data, plain.data, plain.len) < 0) {
		smk_buf_free(&plain);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	smk_buf_free(&plain);
	/* ref §5.7 step 4: the command's status is the one inside DO99 */
	*sw = (uint16_t)(d.sw.value[0] << 8 | d.sw.value[1]);
	return 0;
}

/* A message that does not unwrap closes the channel (usable() refuses from
 * now on); a malformed one is an SM failure like a bad MAC. */
static int unwrap_failed(smsg_ctx *c, const char *what, smk_err *e)
{
	c->failed = true;
	if (e != NULL && e->code == SMK_E_FORMAT)
		e->code = SMK_E_SM;
	return smk_context(e, "%s", what);
}

int smsg_unwrap_response(smsg_ctx *c, const uint8_t *resp, size_t n, smk_buf *data, uint16_t *sw,
			 smk_err *e)
{
	if (usable(c, e) < 0)
		return -1;
	if (unwrap_response(c, resp, n, data, sw, e) < 0)
		return unwrap_failed(c, "SM response", e);
	return 0;
}

/* ---- card side ------------------------------------------------------------ */

bool smsg_command_is_protected(const uint8_t *cmd, size_t n)
{
	return n >= 4 && (cmd[0] & SM_CLA_BITS) == SM_CLA_BITS;
}

static int unwrap_command(smsg_ctx *c, const uint8_t *cmd, size_t n, apdu *plain, smk_buf *data,
			  smk_err *e)
{
	apdu p;
	sm_dos d;

	smk_buf_reset(data);
	data->secret = 1;
	/* ref §5.5: the card steps the SSC before it verifies the command */
	if (ssc_step(c, e) < 0)
		return -1;
	if (apdu_parse(cmd, n, &p, e) < 0)
		return -1;
	if ((p.cla & SM_CLA_BITS) != SM_CLA_BITS)
		return smk_fail(e, SMK_E_SM, "CLA %02X does not announce secure messaging", p.cla);
	/* ref §5.6 step 7: Le' is 00 / 0000; it is outside the MAC, so nothing
	 * else is taken (the real Le travels in DO97) */
	if (p.ne != (p.extended ? APDU_EXT_MAX_NE : APDU_SHORT_MAX_NE))
		return smk_fail(e, SMK_E_SM, "protected command without Le' %s",
				p.extended ? "0000" : "00");
	if (split_dos(p.data, p.lc, true, &d, e) < 0)
		return -1;
	if (!d.has_mac)
		return smk_fail(e, SMK_E_SM, "DO8E (MAC) missing");
	if (mac_verify(c, cmd, p.data, d.mac_off, &d.mac, e) < 0)
		return -1;
	if (d.has_crypt) {
		/* DO85 is the odd-INS form (ref §5.6 step 3); DO87 is taken for any INS */
		if (d.crypt.tag == DO_CRYPTO_ODD && !(p.ins & 1))
			return smk_fail(e, SMK_E_SM, "DO85 with even INS %02X", p.ins);
		if (take_cryptogram(c, &d.crypt, data, e) < 0)
			return -1;
	}
	*plain = (apdu){.cla = (uint8_t)(p.cla & ~SM_CLA_BITS),
			.ins = p.ins,
			.p1 = p.p1,
			.p2 = p.p2,
			.data = data->len ? data->data : NULL,
			.lc = data->len,
			.extended = p.extended};
	if (d.has_le) {
		/* ref §5.6 step 4: one byte for short, two for extended; 0 is the maximum */
		size_t le = 0;

		if (d.le.len != 1 && d.le.len != 2)
			return smk_fail(e, SMK_E_SM, "DO97 of %zu bytes, Le has 1 or 2", d.le.len);
		for (size_t i = 0; i < d.le.len; i++)
			le = le << 8 | d.le.value[i];
		if (le == 0)
			le = d.le.len == 1 ? APDU_SHORT_MAX_NE : APDU_EXT_MAX_NE;
		plain->ne = le;
	}
	return 0;
}

int smsg_unwrap_command(smsg_ctx *c, const uint8_t *cmd, size_t n, apdu *plain, smk_buf *data,
			smk_err *e)
{
	if (usable(c, e) < 0)
		return -1;
	if (unwrap_command(c, cmd, n, plain, data, e) < 0) {
		smk_buf_reset(data);
		return unwrap_failed(c, "SM command", e);
	}
	return 0;
}

static int wrap_response(smsg_ctx *c, const uint8_t *data, size_t len, uint16_t sw, smk_buf *out,
			 smk_err *e)
{
	uint8_t sw_bytes[2] = {(uint8_t)(sw >> 8), (uint8_t)sw};
	uint8_t mac[SMSG_MAC_LEN];
	size_t start = out->len;

	/* ref §5.5: and steps it again before protecting the response */
	if (ssc_step(c, e) < 0)
		return -1;
	if (len > 0 && put_cryptogram(c, DO_CRYPTO, data, len, out, e) < 0)
		return -1;
	if (tlv_put(out, DO_SW, sw_bytes, 2) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	if (mac_compute(c, NULL, out->data + start, out->len - start, mac, e) < 0)
		return -1;
	if (tlv_put(out, DO_MAC, mac, sizeof(mac)) < 0 || smk_buf_add_byte(out, 0x90) < 0 ||
	    smk_buf_add_byte(out, 0x00) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	return 0;
}

int smsg_wrap_response(smsg_ctx *c, const uint8_t *data, size_t len, uint16_t sw, smk_buf *out,
		       smk_err *e)
{
	size_t start = out->len;

	if (usable(c, e) < 0)
		return -1;
	if (len > 0 && data == NULL)
		return smk_fail(e, SMK_E_ARG, "SM response: data missing");
	if (wrap_response(c, data, len, sw, out, e) < 0) {
		c->failed = true;
		out->len = start;
		return smk_context(e, "SM response");
	}
	return 0;
}
