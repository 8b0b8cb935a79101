/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * AES secure messaging (sm/smsg.h, ref §5.5-5.8) with the session keys of
 * the worked example §5.11, on fresh contexts (SSC 0). The first input byte
 * picks what the rest is:
 *  0  a protected response for the host: smsg_unwrap_response;
 *  1  a protected command for the card: smsg_unwrap_command;
 *  2  the data objects of a response, sealed by the harness before
 *     smsg_unwrap_response sees them: cryptograms of whole blocks are
 *     encrypted and a correct DO8E is appended, so the fuzzer gets past the
 *     MAC to DO99, the padding indicator and the ISO padding;
 *  3  the same for a command: header, an extended flag, then data objects;
 *  4  a plain command APDU sent through the whole channel: host wraps, card
 *     unwraps, card answers, host unwraps; both ends must see exactly what
 *     the other sent.
 */
#include <openssl/evp.h>

#include "fuzz.h"
#include "sm/smsg.h"
#include "sm/tlv.h"

/* ref §5.11 */
static const uint8_t k_enc[SMSG_KEY_LEN] = {0xD3, 0xB8, 0x25, 0xF2, 0xD8, 0x3B, 0x12, 0x6F,
					    0x47, 0x91, 0xA5, 0xD5, 0x75, 0x40, 0xE5, 0x98};
static const uint8_t k_mac[SMSG_KEY_LEN] = {0xF0, 0x51, 0x8F, 0x7C, 0x4F, 0x6C, 0xA1, 0x70,
					    0x07, 0x83, 0xE4, 0x6E, 0x13, 0x03, 0x53, 0x2A};

/* The SSC of the first message on a fresh context. */
static const uint8_t ssc1[SMSG_BLOCK] = {[SMSG_BLOCK - 1] = 1};

static smsg_ctx *fresh(void)
{
	smk_err e;
	smsg_ctx *c = smsg_new(k_enc, k_mac, &e);

	if (c == NULL)
		fz_die("SM context", &e);
	return c;
}

/* AES-128-CBC, IV = AES-ECB(K_enc, SSC 1), no padding, in place. */
static void encrypt_blocks(uint8_t *p, size_t n)
{
	static const uint8_t zero[SMSG_BLOCK];
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	uint8_t iv[SMSG_BLOCK];
	int l = 0;

	if (x == NULL || EVP_EncryptInit_ex(x, EVP_aes_128_cbc(), NULL, k_enc, zero) != 1 ||
	    EVP_CIPHER_CTX_set_padding(x, 0) != 1 ||
	    EVP_EncryptUpdate(x, iv, &l, ssc1, SMSG_BLOCK) != 1 ||
	    EVP_EncryptInit_ex(x, EVP_aes_128_cbc(), NULL, k_enc, iv) != 1 ||
	    EVP_CIPHER_CTX_set_padding(x, 0) != 1 || EVP_EncryptUpdate(x, p, &l, p, (int)n) != 1)
		fz_die("AES", NULL);
	EVP_CIPHER_CTX_free(x);
}

/* Copy the data objects, encrypting every cryptogram of whole blocks (what
 * follows the 01 indicator of DO87, all of DO85). */
static void seal_dos(const uint8_t *p, size_t n, smk_buf *out)
{
	tlv_iter it;
	tlv t;
	smk_err e;
	size_t skip, start = out->len;

	if (n == 0)
		return;
	if (smk_buf_add(out, p, n) < 0)
		fz_die("out of memory", NULL);
	tlv_iter_init(&it, out->data + start, n);
	while (tlv_next(&it, &t, &e) == 1) {
		if (t.tag != 0x87 && t.tag != 0x85)
			continue;
		skip = t.tag == 0x87 ? 1 : 0;
		if (t.len > skip && (t.len - skip) % SMSG_BLOCK == 0)
			encrypt_blocks((uint8_t *)t.value + skip, t.len - skip);
	}
}

/* DO8E over SSC 1 || [padded header] || padded data objects (ref §5.6, §5.7). */
static void append_mac(const uint8_t *hdr, const uint8_t *dos, size_t n, smk_buf *out)
{
	static const uint8_t pad[SMSG_BLOCK] = {0x80};
	smk_buf m = SMK_BUF_INIT;
	uint8_t mac[SMSG_MAC_LEN];
	smk_err e;
	int r = 0;

	r |= smk_buf_add(&m, ssc1, sizeof(ssc1));
	if (hdr != NULL) {
		r |= smk_buf_add(&m, hdr, 4);
		r |= smk_buf_add(&m, pad, SMSG_BLOCK - 4);
	}
	if (n > 0) {
		r |= smk_buf_add(&m, dos, n);
		r |= smk_buf_add(&m, pad, SMSG_BLOCK - n % SMSG_BLOCK);
	}
	if (r < 0 || smsg_cmac8(k_mac, m.data, m.len, mac, &e) < 0 ||
	    tlv_put(out, 0x8E, mac, sizeof(mac)) < 0)
		fz_die("MAC", NULL);
	smk_buf_free(&m);
}

static void raw_response(const uint8_t *p, size_t n)
{
	smk_buf data = SMK_BUF_INIT;
	smsg_ctx *c = fresh();
	uint16_t sw = 0;
	smk_err e;

	if (smsg_unwrap_response(c, p, n, &data, &sw, &e) < 0) {
		FZ_CHECK(!smsg_usable(c) && data.len == 0);
		FZ_CHECK(e.code == SMK_E_SM || e.code == SMK_E_NOMEM);
	}
	smk_buf_free(&data);
	smsg_free(c);
}

static void raw_command(const uint8_t *p, size_t n)
{
	smk_buf data = SMK_BUF_INIT;
	smsg_ctx *c = fresh();
	apdu plain;
	smk_err e;

	if (smsg_unwrap_command(c, p, n, &plain, &data, &e) < 0) {
		FZ_CHECK(!smsg_usable(c) && data.len == 0);
		FZ_CHECK(e.code == SMK_E_SM || e.code == SMK_E_NOMEM);
	} else {
		FZ_CHECK(plain.lc == data.len && (plain.cla & 0x0C) == 0);
	}
	smk_buf_free(&data);
	smsg_free(c);
}

static void sealed_response(const uint8_t *p, size_t n)
{
	smk_buf resp = SMK_BUF_INIT, data = SMK_BUF_INIT;
	smsg_ctx *c = fresh();
	uint16_t sw = 0;
	tlv sw_do;
	smk_err e;

	seal_dos(p, n, &resp);
	append_mac(NULL, resp.data, resp.len, &resp);
	if (smk_buf_add(&resp, "\x90\x00", 2) < 0)
		fz_die("out of memory", NULL);
	if (smsg_unwrap_response(c, resp.data, resp.len, &data, &sw, &e) == 0) {
		/* the status word is the one inside DO99 */
		FZ_CHECK(tlv_find(resp.data, resp.len - 2, 0x99, &sw_do, &e) == 1);
		FZ_CHECK(sw_do.len == 2 && sw == (sw_do.value[0] << 8 | sw_do.value[1]));
	} else {
		FZ_CHECK(data.len == 0 && !smsg_usable(c));
	}
	smk_buf_free(&resp);
	smk_buf_free(&data);
	smsg_free(c);
}

static void sealed_command(fz_in *in)
{
	smk_buf body = SMK_BUF_INIT, cmd = SMK_BUF_INIT, data = SMK_BUF_INIT;
	uint8_t hdr[4];
	smsg_ctx *c = fresh();
	const uint8_t *dos;
	size_t n;
	bool ext;
	apdu prot, plain;
	smk_err e;

	for (int i = 0; i < 4; i++)
		hdr[i] = fz_u8(in);
	hdr[0] |= 0x0C;
	ext = fz_u8(in) & 1;
	dos = fz_take(in, in->n, &n);
	seal_dos(dos, n, &body);
	append_mac(hdr, body.data, body.len, &body);
	ext = ext || body.len > APDU_SHORT_MAX_LC;
	prot = (apdu){.cla = hdr[0],
		      .ins = hdr[1],
		      .p1 = hdr[2],
		      .p2 = hdr[3],
		      .data = body.data,
		      .lc = body.len,
		      .ne = ext ? APDU_EXT_MAX_NE : APDU_SHORT_MAX_NE,
		      .extended = ext};
	if (apdu_encode(&prot, &cmd, &e) == 0 &&
	    smsg_unwrap_command(c, cmd.data, cmd.len, &plain, &data, &e) == 0) {
		FZ_CHECK(plain.cla == (hdr[0] & ~0x0C) && plain.ins == hdr[1]);
		FZ_CHECK(plain.p1 == hdr[2] && plain.p2 == hdr[3]);
		FZ_CHECK(plain.lc == data.len && plain.ne <= APDU_EXT_MAX_NE);
	}
	smk_buf_free(&body);
	smk_buf_free(&cmd);
	smk_buf_free(&data);
	smsg_free(c);
}

static void round_trip(const uint8_t *p, size_t n)
{
	smk_buf wire = SMK_BUF_INIT, card_data = SMK_BUF_INIT, host_data = SMK_BUF_INIT;
	smsg_ctx *host = fresh(), *card = fresh();
	apdu sent, got;
	uint16_t sw = 0, sent_sw;
	smk_err e;

	if (apdu_parse(p, n, &sent, &e) < 0 || (sent.cla & 0x0C) != 0)
		goto done;
	if (smsg_wrap_command(host, &sent, &wire, &e) < 0) {
		FZ_CHECK(e.code == SMK_E_ARG && smsg_usable(host));
		goto done;
	}
	FZ_CHECK(smsg_unwrap_command(card, wire.data, wire.len, &got, &card_data, &e) == 0);
	FZ_CHECK(got.cla == sent.cla && got.ins == sent.ins);
	FZ_CHECK(got.p1 == sent.p1 && got.p2 == sent.p2);
	FZ_CHECK(got.lc == sent.lc && got.ne == sent.ne);
	FZ_CHECK(sent.lc == 0 || memcmp(got.data, sent.data, sent.lc) == 0);

	/* the card answers with the command's data and P1 P2 as status word */
	sent_sw = (uint16_t)(sent.p1 << 8 | sent.p2);
	smk_buf_reset(&wire);
	FZ_CHECK(smsg_wrap_response(card, got.data, got.lc, sent_sw, &wire, &e) == 0);
	FZ_CHECK(smsg_unwrap_response(host, wire.data, wire.len, &host_data, &sw, &e) == 0);
	FZ_CHECK(sw == sent_sw && host_data.len == sent.lc);
	FZ_CHECK(sent.lc == 0 || memcmp(host_data.data, sent.data, sent.lc) == 0);
	/* a replay of the same response must fail: the SSC has moved on */
	FZ_CHECK(smsg_unwrap_response(host, wire.data, wire.len, &host_data, &sw, &e) == -1);
done:
	smk_buf_free(&wire);
	smk_buf_free(&card_data);
	smk_buf_free(&host_data);
	smsg_free(host);
	smsg_free(card);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = {data, size};
	uint8_t mode = fz_u8(&in);
	uint8_t *rest = fz_dup(in.p, in.n);

	switch (mode % 5) {
	case 0:
		raw_response(rest, in.n);
		break;
	case 1:
		raw_command(rest, in.n);
		break;
	case 2:
		sealed_response(rest, in.n);
		break;
	case 3: {
		fz_in sub = {rest, in.n};

		sealed_command(&sub);
		break;
	}
	default:
		round_trip(rest, in.n);
		break;
	}
	free(rest);
	return 0;
}
