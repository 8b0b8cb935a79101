/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Chip authentication and AES secure messaging (sm/ca.h, sm/smsg.h): the
 * worked example of reference §5.11 byte for byte, host and card sides
 * talking to each other on every supported curve, and every way a hostile or
 * broken peer can get a message wrong.
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "tests/lib/testutil.h"
#include "sm/ca.h"
#include "sm/smsg.h"

/* ---- reference §5.11 ---- */
#define D_DEV "1111111111111111111111111111111111111111111111111111111111111111"
#define Q_DEV                                                                                      \
	"04 0117A18051447117D2D529054EF0136E8FF6BD2602F2F8ABA5AB3D74E72AAA70"                      \
	"60BC4EFA21F12BF007EE36DAE9720975E2F54CDA9CEB403A241FA977124B1AA2"
#define D_H "2222222222222222222222222222222222222222222222222222222222222222"
#define Q_H                                                                                        \
	"04 6674461D273A4EE6D2CEDEDA425696DDFDD8CBBE0E36CE9244EC611FE027B531"                      \
	"2E6D0798F28B235C9BDBC96AE40E4C5695F1F07F2489CACEA981EC0E83BB9DE5"
#define K_SHARED "18C0A8A43BFE303EC725AB8DCB319C89165CC5A6B522AFA4BF7C44AE56C47536"
#define NONCE "0102030405060708"
#define K_ENC "D3B825F2D83B126F4791A5D57540E598"
#define K_MAC "F0518F7C4F6CA1700783E46E1303532A"
#define TOKEN "F434DB0C6A0C5441"
#define GA_RESP "7C14 8108 0102030405060708 8208 F434DB0C6A0C5441"
#define VERIFY_PROT "0C2000811D 87110121B5DB3C2559135837C9FEDBD0567966 8E085080628451F3F4FC 00"
#define RESP1 "9902 9000 8E08 64A16C4F1D48482E 9000"
#define GETCH_PROT "0C8400000D 970108 8E08879CC4A15BE0A760 00"
#define RESP2 "8711017D14598673D6A7A1849CF6F714A385C5 99029000 8E0866499D88DB15AB08 9000"

static const uint8_t pin[] = {'6', '4', '8', '2', '1', '9'};

static const smk_curve *bp256(void)
{
	const smk_curve *c = curve_by_name("brainpoolP256r1");

	ck_assert_ptr_nonnull(c);
	return c;
}

static EVP_PKEY *key_hex(const smk_curve *c, const char *d_hex)
{
	smk_buf d = SMK_BUF_INIT;
	EVP_PKEY *k = NULL;
	smk_err e;

	tu_hex(&d, d_hex);
	ck_assert_msg(ca_key_from_private(c, d.data, d.len, &k, &e) == 0, "%s", e.msg);
	smk_buf_free(&d);
	return k;
}

/* Independent AES for the test: one block of AES-128-ECB, CBC without padding,
 * and the 8-byte CMAC. Used to check the reference's intermediate values and
 * to craft messages the code under test must refuse. */
static void aes_ecb(const uint8_t key[16], const uint8_t in[16], uint8_t out[16])
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l = 0;

	ck_assert(EVP_EncryptInit_ex(x, EVP_aes_128_ecb(), NULL, key, NULL) == 1);
	EVP_CIPHER_CTX_set_padding(x, 0);
	ck_assert(EVP_EncryptUpdate(x, out, &l, in, 16) == 1 && l == 16);
	EVP_CIPHER_CTX_free(x);
}

static void aes_cbc_enc(const uint8_t key[16], const uint8_t iv[16], const uint8_t *in, size_t n,
			uint8_t *out)
{
	EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
	int l = 0;

	ck_assert(n % 16 == 0);
	ck_assert(EVP_EncryptInit_ex(x, EVP_aes_128_cbc(), NULL, key, iv) == 1);
	EVP_CIPHER_CTX_set_padding(x, 0);
	ck_assert(EVP_EncryptUpdate(x, out, &l, in, (int)n) == 1 && (size_t)l == n);
	EVP_CIPHER_CTX_free(x);
}

static void cmac8(const uint8_t key[16], const uint8_t *in, size_t n, uint8_t out[8])
{
	uint8_t full[16];
	size_t l = 0;

	ck_assert(EVP_Q_mac(NULL, "CMAC", NULL, "AES-128-CBC", NULL, key, 16, in, n, full, 16,
			    &l) != NULL);
	memcpy(out, full, 8);
}

static void example_keys(uint8_t k_enc[16], uint8_t k_mac[16])
{
	smk_buf b = SMK_BUF_INIT;

	tu_hex(&b, K_ENC K_MAC);
	memcpy(k_enc, b.data, 16);
	memcpy(k_mac, b.data + 16, 16);
	smk_buf_free(&b);
}

/* Fresh sessions on both sides with the §5.11 keys, SSC 0. */
static void example_pair(smsg_ctx **host, smsg_ctx **card)
{
	uint8_t k_enc[16], k_mac[16];
	smk_err e;

	example_keys(k_enc, k_mac);
	*host = smsg_new(k_enc, k_mac, &e);
	ck_assert_ptr_nonnull(*host);
	if (card != NULL) {
		*card = smsg_new(k_enc, k_mac, &e);
		ck_assert_ptr_nonnull(*card);
	}
}

static void wrap_hex(smsg_ctx *c, const apdu *a, const char *want)
{
	smk_buf out = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(smsg_wrap_command(c, a, &out, &e) == 0, "%s", e.msg);
	tu_assert_hex(out.data, out.len, want);
	smk_buf_free(&out);
}

static void unwrap_resp_hex(smsg_ctx *c, const char *resp_hex, smk_buf *data, uint16_t *sw)
{
	smk_buf r = SMK_BUF_INIT;
	smk_err e;

	tu_hex(&r, resp_hex);
	ck_assert_msg(smsg_unwrap_response(c, r.data, r.len, data, sw, &e) == 0, "%s", e.msg);
	smk_buf_free(&r);
}

/* The host as it stands after command 2 of §5.11 (SSC 3), waiting for
 * response 2. */
static smsg_ctx *host_awaiting_resp2(void)
{
	apdu verify = {.ins = 0x20, .p2 = 0x81, .data = pin, .lc = sizeof(pin)};
	apdu getch = {.ins = 0x84, .ne = 8};
	smk_buf data = SMK_BUF_INIT;
	smsg_ctx *h;
	uint16_t sw = 0;

	example_pair(&h, NULL);
	wrap_hex(h, &verify, VERIFY_PROT);
	unwrap_resp_hex(h, RESP1, &data, &sw);
	wrap_hex(h, &getch, GETCH_PROT);
	smk_buf_free(&data);
	return h;
}

START_TEST(worked_example_handshake)
{
	const smk_curve *c = bp256();
	EVP_PKEY *dev = key_hex(c, D_DEV), *eph = key_hex(c, D_H);
	smk_buf qdev = SMK_BUF_INIT, dh = SMK_BUF_INIT, b = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	uint8_t k_enc[16], k_mac[16], t[8];
	const uint8_t *q_h;
	size_t q_h_len;
	ca_host *h;
	smsg_ctx *hs, *cs;
	apdu a;
	smk_err e;

	/* Q_dev and Q_h from the private scalars */
	ck_assert_int_eq(ca_key_public(dev, &b, &e), 0);
	tu_assert_hex(b.data, b.len, Q_DEV);
	tu_hex(&qdev, Q_DEV);
	tu_hex(&dh, D_H);
	ck_assert_msg(ca_host_new(c, qdev.data, qdev.len, dh.data, dh.len, &h, &e) == 0, "%s",
		      e.msg);
	q_h = ca_host_point(h, &q_h_len);
	tu_assert_hex(q_h, q_h_len, Q_H);

	/* MSE:SET AT and GENERAL AUTHENTICATE as they go on the wire */
	smk_buf_reset(&b);
	ca_mse_set_at(&a);
	ck_assert_int_eq(apdu_encode(&a, &b, &e), 0);
	tu_assert_hex(b.data, b.len, "00 22 41 A4 0C 80 0A 04 00 7F 00 07 02 02 03 02 02");
	smk_buf_reset(&b);
	ca_host_ga(h, &a);
	ck_assert_int_eq(apdu_encode(&a, &b, &e), 0);
	tu_assert_hex(b.data, b.len, "00 86 00 00 45 7C 43 80 41" Q_H "00");

	/* K is the same from both ends */
	smk_buf_reset(&b);
	ck_assert_int_eq(ca_ecdh(eph, qdev.data, qdev.len, &b, &e), 0);
	tu_assert_hex(b.data, b.len, K_SHARED);
	ck_assert(b.secret);
	smk_buf_reset(&b);
	ck_assert_int_eq(ca_ecdh(dev, q_h, q_h_len, &b, &e), 0);
	tu_assert_hex(b.data, b.len, K_SHARED);

	/* K_enc, K_mac, token input, T */
	{
		smk_buf n = SMK_BUF_INIT;

		tu_hex(&n, NONCE);
		ck_assert_int_eq(ca_kdf(b.data, b.len, n.data, 1, k_enc, &e), 0);
		ck_assert_int_eq(ca_kdf(b.data, b.len, n.data, 2, k_mac, &e), 0);
		smk_buf_free(&n);
	}
	tu_assert_hex(k_enc, 16, K_ENC);
	tu_assert_hex(k_mac, 16, K_MAC);
	smk_buf_reset(&b);
	ck_assert_int_eq(ca_token_input(q_h, q_h_len, &b, &e), 0);
	ck_assert_uint_eq(b.len, 82);
	tu_assert_hex(b.data, b.len, "7F494F060A04007F00070202030202 8641" Q_H);
	ck_assert_int_eq(ca_token(k_mac, q_h, q_h_len, t, &e), 0);
	tu_assert_hex(t, 8, TOKEN);

	/* the card answers GA with the injected nonce; the host accepts it */
	ca_mse_set_at(&a);
	ck_assert_msg(ca_card_check_mse(&a, &e) == 0, "%s", e.msg);
	ca_host_ga(h, &a);
	smk_buf_reset(&b);
	tu_hex(&b, NONCE);
	ck_assert_msg(ca_card_respond(dev, a.data, a.lc, b.data, &resp, &cs, &e) == 0, "%s", e.msg);
	tu_assert_hex(resp.data, resp.len, GA_RESP);
	ck_assert_msg(ca_host_finish(h, resp.data, resp.len, &hs, &e) == 0, "%s", e.msg);
	ck_assert(smsg_usable(hs) && smsg_usable(cs));

	/* one handshake per ca_host */
	{
		smsg_ctx *again = NULL;

		ck_assert_int_eq(ca_host_finish(h, resp.data, resp.len, &again, &e), -1);
		ck_assert_ptr_null(again);
	}

	/* the sessions the handshake produced are the §5.11 sessions */
	{
		apdu verify = {.ins = 0x20, .p2 = 0x81, .data = pin, .lc = sizeof(pin)};
		smk_buf out = SMK_BUF_INIT, data = SMK_BUF_INIT;
		apdu plain;

		wrap_hex(hs, &verify, VERIFY_PROT);
		tu_hex(&out, VERIFY_PROT);
		ck_assert_msg(smsg_unwrap_command(cs, out.data, out.len, &plain, &data, &e) == 0,
			      "%s", e.msg);
		tu_assert_hex(plain.data, plain.lc, "363438323139");
		smk_buf_free(&out);
		smk_buf_free(&data);
	}

	smsg_free(hs);
	smsg_free(cs);
	ca_host_free(h);
	EVP_PKEY_free(dev);
	EVP_PKEY_free(eph);
	smk_buf_free(&qdev);
	smk_buf_free(&dh);
	smk_buf_free(&b);
	smk_buf_free(&resp);
}
END_TEST

START_TEST(worked_example_messages)
{
	apdu verify = {
	    .cla = 0x00, .ins = 0x20, .p1 = 0x00, .p2 = 0x81, .data = pin, .lc = sizeof(pin)};
	apdu getch = {.cla = 0x00, .ins = 0x84, .ne = 8};
	static const uint8_t chal[] = {0xA1, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8};
	uint8_t k_enc[16], k_mac[16], iv[16], ssc[16] = {0}, mac[8];
	smk_buf b = SMK_BUF_INIT, data = SMK_BUF_INIT;
	smsg_ctx *host, *card;
	uint16_t sw = 0;
	apdu plain;
	smk_err e;

	example_keys(k_enc, k_mac);
	example_pair(&host, &card);

	/* the reference's IVs and MAC inputs, checked with independent AES */
	ssc[15] = 1;
	aes_ecb(k_enc, ssc, iv);
	tu_assert_hex(iv, 16, "EBA3765A5072911A880FBC168A00A249");
	tu_hex(&b, "00000000000000000000000000000001 0C200081800000000000000000000000"
		   "87110121B5DB3C2559135837C9FEDBD0 56796680000000000000000000000000");
	cmac8(k_mac, b.data, b.len, mac);
	tu_assert_hex(mac, 8, "5080628451F3F4FC");
	ssc[15] = 4;
	aes_ecb(k_enc, ssc, iv);
	tu_assert_hex(iv, 16, "016A6011870E1FD309CE369C8ED091BC");

	/* command 1: VERIFY under SM, SSC 1 */
	wrap_hex(host, &verify, VERIFY_PROT);
	smk_buf_reset(&b);
	tu_hex(&b, VERIFY_PROT);
	ck_assert(smsg_command_is_protected(b.data, b.len));
	ck_assert_msg(smsg_unwrap_command(card, b.data, b.len, &plain, &data, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(plain.cla, 0x00);
	ck_assert_uint_eq(plain.ins, 0x20);
	ck_assert_uint_eq(plain.p2, 0x81);
	ck_assert_uint_eq(plain.ne, 0);
	tu_assert_hex(plain.data, plain.lc, "363438323139");
	ck_assert(data.secret);

	/* response 1: 9000, no data, SSC 2 */
	smk_buf_reset(&b);
	ck_assert_int_eq(smsg_wrap_response(card, NULL, 0, 0x9000, &b, &e), 0);
	tu_assert_hex(b.data, b.len, RESP1);
	smk_buf_reset(&data);
	unwrap_resp_hex(host, RESP1, &data, &sw);
	ck_assert_uint_eq(sw, 0x9000);
	ck_assert_uint_eq(data.len, 0);

	/* command 2: GET CHALLENGE, Le in DO97, SSC 3 */
	wrap_hex(host, &getch, GETCH_PROT);
	smk_buf_reset(&b);
	tu_hex(&b, GETCH_PROT);
	ck_assert_msg(smsg_unwrap_command(card, b.data, b.len, &plain, &data, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(plain.ins, 0x84);
	ck_assert_uint_eq(plain.lc, 0);
	ck_assert_ptr_null(plain.data);
	ck_assert_uint_eq(plain.ne, 8);

	/* response 2: eight bytes of challenge, SSC 4 */
	smk_buf_reset(&b);
	ck_assert_int_eq(smsg_wrap_response(card, chal, sizeof(chal), 0x9000, &b, &e), 0);
	tu_assert_hex(b.data, b.len, RESP2);
	smk_buf_reset(&data);
	unwrap_resp_hex(host, RESP2, &data, &sw);
	ck_assert_uint_eq(sw, 0x9000);
	tu_assert_hex(data.data, data.len, "A1A2A3A4A5A6A7A8");

	smsg_free(host);
	smsg_free(card);
	smk_buf_free(&b);
	smk_buf_free(&data);
}
END_TEST

/* Handshake between the two sides with random keys and nonce. */
static void handshake(const smk_curve *c, EVP_PKEY *dev, smsg_ctx **host, smsg_ctx **card)
{
	smk_buf q = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	ca_host *h;
	apdu ga;
	smk_err e;

	ck_assert_int_eq(ca_key_public(dev, &q, &e), 0);
	ck_assert_uint_eq(q.len, 1 + 2 * c->field_len);
	ck_assert_msg(ca_host_new(c, q.data, q.len, NULL, 0, &h, &e) == 0, "%s: %s", c->name,
		      e.msg);
	ca_host_ga(h, &ga);
	ck_assert_msg(ca_card_respond(dev, ga.data, ga.lc, NULL, &resp, card, &e) == 0, "%s: %s",
		      c->name, e.msg);
	ck_assert_msg(ca_host_finish(h, resp.data, resp.len, host, &e) == 0, "%s: %s", c->name,
		      e.msg);
	ca_host_free(h);
	smk_buf_free(&q);
	smk_buf_free(&resp);
}

static EVP_PKEY *random_key(const smk_curve *c)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", OBJ_nid2sn(c->nid));

	ck_assert_msg(k != NULL, "keygen on %s", c->name);
	return k;
}

/* One command and its response through both sides; checks what each side
 * recovers and the shape of the protected APDU. */
static void exchange(smsg_ctx *host, smsg_ctx *card, const apdu *a, size_t resp_len,
		     uint16_t resp_sw)
{
	smk_buf prot = SMK_BUF_INIT, data = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	smk_buf got = SMK_BUF_INIT;
	uint8_t *rd = malloc(resp_len + 1);
	bool ext = a->extended || a->lc > 255 || a->ne > 256;
	apdu wire, plain;
	uint16_t sw = 0;
	smk_err e;

	for (size_t i = 0; i < resp_len; i++)
		rd[i] = (uint8_t)(i * 7 + a->ins);
	ck_assert_msg(smsg_wrap_command(host, a, &prot, &e) == 0, "%s", e.msg);

	/* protected APDU: SM CLA, same INS, always Le', extended when needed */
	ck_assert_int_eq(apdu_parse(prot.data, prot.len, &wire, &e), 0);
	ck_assert_uint_eq(wire.cla, a->cla | 0x0C);
	ck_assert_uint_eq(wire.ins, a->ins);
	ck_assert(wire.extended == (ext || wire.lc > 255));
	ck_assert_uint_eq(wire.ne, wire.extended ? 65536 : 256);
	if (a->lc > 0)
		ck_assert_uint_eq(wire.data[0], (a->ins & 1) ? 0x85 : 0x87);
	/* the plain data never travel in clear */
	if (a->lc >= 8)
		ck_assert_ptr_null(memmem(prot.data, prot.len, a->data, 8));

	ck_assert_msg(smsg_unwrap_command(card, prot.data, prot.len, &plain, &data, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(plain.cla, a->cla);
	ck_assert_uint_eq(plain.ins, a->ins);
	ck_assert_uint_eq(plain.p1, a->p1);
	ck_assert_uint_eq(plain.p2, a->p2);
	ck_assert_uint_eq(plain.lc, a->lc);
	ck_assert_uint_eq(plain.ne, a->ne);
	ck_assert(plain.extended == wire.extended);
	if (a->lc > 0)
		ck_assert(memcmp(plain.data, a->data, a->lc) == 0);

	ck_assert_int_eq(smsg_wrap_response(card, rd, resp_len, resp_sw, &resp, &e), 0);
	ck_assert_msg(smsg_unwrap_response(host, resp.data, resp.len, &got, &sw, &e) == 0, "%s",
		      e.msg);
	ck_assert_uint_eq(sw, resp_sw);
	ck_assert_uint_eq(got.len, resp_len);
	if (resp_len > 0)
		ck_assert(memcmp(got.data, rd, resp_len) == 0);

	free(rd);
	smk_buf_free(&prot);
	smk_buf_free(&data);
	smk_buf_free(&resp);
	smk_buf_free(&got);
}

START_TEST(interop_every_curve)
{
	static const size_t lcs[] = {0, 1, 15, 16, 17, 239, 240, 255, 1000};
	static const size_t nes[] = {0, 1, 255, 256, 257, 65536};
	static const uint8_t ins[] = {0x46, 0xB1};
	static const uint16_t sws[] = {0x9000, 0x6282, 0x6A82};
	const smk_curve *c;
	size_t ncurves;
	uint8_t big[1000];
	unsigned n = 0;

	c = curve_list(&ncurves);
	RAND_bytes(big, sizeof(big));
	for (size_t ci = 0; ci < ncurves; ci++) {
		EVP_PKEY *dev = random_key(&c[ci]);
		smsg_ctx *host, *card;

		ck_assert_ptr_eq(ca_key_curve(dev, NULL), &c[ci]);
		handshake(&c[ci], dev, &host, &card);
		for (size_t i = 0; i < sizeof(ins); i++)
			for (size_t l = 0; l < sizeof(lcs) / sizeof(lcs[0]); l++)
				for (size_t m = 0; m < sizeof(nes) / sizeof(nes[0]); m++)
					for (int ext = 0; ext < 2; ext++) {
						apdu a = {.cla = (n & 1) ? 0x80 : 0x00,
							  .ins = ins[i],
							  .p1 = (uint8_t)l,
							  .p2 = (uint8_t)m,
							  .data = lcs[l] ? big : NULL,
							  .lc = lcs[l],
							  .ne = nes[m],
							  .extended = ext};
						size_t rl = nes[m] < 300 ? nes[m] : 1000;

						exchange(host, card, &a, (n % 5) ? rl : 0,
							 sws[n % 3]);
						n++;
					}
		ck_assert(smsg_usable(host) && smsg_usable(card));
		smsg_free(host);
		smsg_free(card);
		EVP_PKEY_free(dev);
	}
}
END_TEST

START_TEST(handshake_rejections)
{
	const smk_curve *c = curve_by_name("secp256r1");
	EVP_PKEY *dev = random_key(c), *other = random_key(c);
	smk_buf q = SMK_BUF_INIT, q_other = SMK_BUF_INIT, resp = SMK_BUF_INIT, b = SMK_BUF_INIT;
	smsg_ctx *s = NULL, *cs = NULL;
	ca_host *h;
	apdu ga;
	smk_err e;

	ck_assert_int_eq(ca_key_public(dev, &q, &e), 0);
	ck_assert_int_eq(ca_key_public(other, &q_other, &e), 0);

	/* a device key that is not on the curve, compressed, or cut short */
	tu_hex(&b, "");
	smk_buf_add(&b, q.data, q.len);
	b.data[b.len - 1] ^= 0x01;
	ck_assert_int_eq(ca_host_new(c, b.data, b.len, NULL, 0, &h, &e), -1);
	ck_assert_ptr_null(h);
	b.data[b.len - 1] ^= 0x01;
	b.data[0] = 0x02;
	ck_assert_int_eq(ca_host_new(c, b.data, 1 + c->field_len, NULL, 0, &h, &e), -1);
	ck_assert_int_eq(ca_host_new(c, q.data, q.len - 1, NULL, 0, &h, &e), -1);
	ck_assert_int_eq(ca_host_new(curve_by_name("secp384r1"), q.data, q.len, NULL, 0, &h, &e),
			 -1);
	/* a private scalar of 0 or above the order */
	memset(b.data, 0, 32);
	ck_assert_int_eq(ca_host_new(c, q.data, q.len, b.data, 32, &h, &e), -1);
	memset(b.data, 0xFF, 32);
	ck_assert_int_eq(ca_host_new(c, q.data, q.len, b.data, 32, &h, &e), -1);

	/* a card with another key than the certificate says: token mismatch */
	ck_assert_int_eq(ca_host_new(c, q_other.data, q_other.len, NULL, 0, &h, &e), 0);
	ca_host_ga(h, &ga);
	ck_assert_int_eq(ca_card_respond(dev, ga.data, ga.lc, NULL, &resp, &cs, &e), 0);
	smsg_free(cs);
	ck_assert_int_eq(ca_host_finish(h, resp.data, resp.len, &s, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_SM);
	ck_assert_ptr_nonnull(strstr(e.msg, "token"));
	ck_assert_ptr_null(s);
	ca_host_free(h);

	/* the right card, but any byte of nonce or token changed */
	for (size_t i = 0; i < 22; i++) {
		ck_assert_int_eq(ca_host_new(c, q.data, q.len, NULL, 0, &h, &e), 0);
		ca_host_ga(h, &ga);
		smk_buf_reset(&resp);
		ck_assert_int_eq(ca_card_respond(dev, ga.data, ga.lc, NULL, &resp, &cs, &e), 0);
		smsg_free(cs);
		resp.data[i] ^= 0x40;
		ck_assert_msg(ca_host_finish(h, resp.data, resp.len, &s, &e) == -1, "byte %zu", i);
		/* header bytes make it malformed, value bytes make the token wrong */
		if ((i >= 4 && i < 12) || i >= 14)
			ck_assert_msg(e.code == SMK_E_SM, "byte %zu: %s", i, e.msg);
		else
			ck_assert_msg(e.code == SMK_E_FORMAT, "byte %zu: %s", i, e.msg);
		ca_host_free(h);
	}

	/* malformed GA responses: every prefix, trailing bytes, other layouts */
	{
		static const char *const bad[] = {
		    "",
		    "9000",
		    GA_RESP "00",
		    "7C14 8208 F434DB0C6A0C5441 8108 0102030405060708",
		    "7C13 8107 01020304050607 8208 F434DB0C6A0C5441",
		    "7C16 8108 0102030405060708 8208 F434DB0C6A0C5441 8300",
		    "7C0A 8108 0102030405060708",
		    "7D14 8108 0102030405060708 8208 F434DB0C6A0C5441",
		    "7C15 8108 0102030405060708 8209 F434DB0C6A0C544100",
		    "7C80 8108 0102030405060708 8208 F434DB0C6A0C5441 0000",
		};

		smk_buf_reset(&b);
		tu_hex(&b, GA_RESP);
		for (size_t i = 0; i < b.len + sizeof(bad) / sizeof(bad[0]); i++) {
			smk_buf m = SMK_BUF_INIT;
			uint8_t *exact;

			if (i < b.len)
				smk_buf_add(&m, b.data, i);
			else
				tu_hex(&m, bad[i - b.len]);
			exact = malloc(m.len + 1); /* exact size: ASan sees any over-read */
			if (m.len)
				memcpy(exact, m.data, m.len);
			ck_assert_int_eq(ca_host_new(c, q.data, q.len, NULL, 0, &h, &e), 0);
			ck_assert_msg(ca_host_finish(h, exact, m.len, &s, &e) == -1, "case %zu", i);
			ck_assert_msg(e.code == SMK_E_FORMAT, "case %zu: %s", i, e.msg);
			ck_assert_ptr_null(s);
			ca_host_free(h);
			free(exact);
			smk_buf_free(&m);
		}
	}

	/* card side: malformed GA commands, host points off the curve */
	ck_assert_int_eq(ca_host_new(c, q.data, q.len, NULL, 0, &h, &e), 0);
	ca_host_ga(h, &ga);
	for (size_t i = 0; i <= ga.lc; i++) {
		uint8_t *m = malloc(ga.lc + 1);

		memcpy(m, ga.data, ga.lc);
		smk_buf_reset(&resp);
		if (i == ga.lc)
			m[i - 1] ^= 0x01; /* y no longer matches x */
		ck_assert_msg(
		    ca_card_respond(dev, m, i == ga.lc ? ga.lc : i, NULL, &resp, &cs, &e) == -1,
		    "prefix %zu", i);
		ck_assert_ptr_null(cs);
		ck_assert_uint_eq(resp.len, 0);
		free(m);
	}
	ca_host_free(h);

	/* MSE:SET AT for another protocol (3DES) or other parameters */
	{
		static const uint8_t des[] = {0x80, 0x0A, 0x04, 0x00, 0x7F, 0x00,
					      0x07, 0x02, 0x02, 0x03, 0x02, 0x01};
		apdu mse;

		ca_mse_set_at(&mse);
		mse.data = des;
		ck_assert_int_eq(ca_card_check_mse(&mse, &e), -1);
		ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
		ca_mse_set_at(&mse);
		mse.p1 = 0x81;
		ck_assert_int_eq(ca_card_check_mse(&mse, &e), -1);
		ca_mse_set_at(&mse);
		mse.lc--;
		ck_assert_int_eq(ca_card_check_mse(&mse, &e), -1);
	}

	EVP_PKEY_free(dev);
	EVP_PKEY_free(other);
	smk_buf_free(&q);
	smk_buf_free(&q_other);
	smk_buf_free(&resp);
	smk_buf_free(&b);
}
END_TEST

/* A response to command 2 of §5.11 (SSC 4) made by hand: the DOs given in
 * hex, optionally preceded by a cryptogram DO of tag (85/87, with indicator
 * ind unless ind < 0) over plaintext pt (already padded by the caller), then
 * a correct DO8E and outer 9000. */
static void craft_resp2(smk_buf *out, int tag, int ind, const char *pt_hex, const char *dos_hex)
{
	uint8_t k_enc[16], k_mac[16], ssc[16] = {0}, iv[16], mac[8];
	smk_buf pt = SMK_BUF_INIT, m = SMK_BUF_INIT;

	example_keys(k_enc, k_mac);
	ssc[15] = 4;
	smk_buf_reset(out);
	if (tag) {
		uint8_t ct[64];

		tu_hex(&pt, pt_hex);
		ck_assert(pt.len <= sizeof(ct));
		aes_ecb(k_enc, ssc, iv);
		aes_cbc_enc(k_enc, iv, pt.data, pt.len, ct);
		smk_buf_add_byte(out, (uint8_t)tag);
		smk_buf_add_byte(out, (uint8_t)(pt.len + (ind >= 0)));
		if (ind >= 0)
			smk_buf_add_byte(out, (uint8_t)ind);
		smk_buf_add(out, ct, pt.len);
	}
	tu_hex(out, dos_hex);
	smk_buf_add(&m, ssc, 16);
	smk_buf_add(&m, out->data, out->len);
	smk_buf_add_byte(&m, 0x80);
	while (m.len % 16)
		smk_buf_add_byte(&m, 0x00);
	cmac8(k_mac, m.data, m.len, mac);
	tu_hex(out, "8E08");
	smk_buf_add(out, mac, 8);
	tu_hex(out, "9000");
	smk_buf_free(&pt);
	smk_buf_free(&m);
}

/* Feed resp to a host waiting for response 2; 0 and the data, or -1 and e. */
static int try_resp2(const uint8_t *resp, size_t n, smk_buf *data, uint16_t *sw, smk_err *e)
{
	smsg_ctx *h = host_awaiting_resp2();
	uint8_t *exact = malloc(n + 1); /* exact size: ASan sees any over-read */
	int r;

	if (n)
		memcpy(exact, resp, n);
	r = smsg_unwrap_response(h, exact, n, data, sw, e);
	if (r < 0) {
		smk_err e2;
		apdu next = {.ins = 0x84, .ne = 8};
		smk_buf out = SMK_BUF_INIT;

		/* the session is spent: nothing more goes through it */
		ck_assert(!smsg_usable(h));
		ck_assert_int_eq(smsg_wrap_command(h, &next, &out, &e2), -1);
		ck_assert_int_eq(e2.code, SMK_E_SM);
		ck_assert_uint_eq(out.len, 0);
		ck_assert_int_eq(smsg_unwrap_response(h, exact, n, data, sw, &e2), -1);
	}
	free(exact);
	smsg_free(h);
	return r;
}

static void expect_reject(const smk_buf *resp, const char *what, const char *why)
{
	smk_buf data = SMK_BUF_INIT;
	uint16_t sw = 0;
	smk_err e;

	ck_assert_msg(try_resp2(resp->data, resp->len, &data, &sw, &e) == -1, "%s accepted", what);
	ck_assert_msg(e.code == SMK_E_SM, "%s: %s", what, e.msg);
	ck_assert_msg(why == NULL || strstr(e.msg, why) != NULL, "%s: %s", what, e.msg);
	ck_assert_uint_eq(data.len, 0);
	smk_buf_free(&data);
}

START_TEST(response_rejections)
{
	smk_buf r = SMK_BUF_INIT, data = SMK_BUF_INIT;
	uint16_t sw = 0;
	smk_err e;

	/* the crafting helper itself reproduces response 2 */
	craft_resp2(&r, 0x87, 0x01, "A1A2A3A4A5A6A7A8 8000000000000000", "99029000");
	tu_assert_hex(r.data, r.len, RESP2);

	/* every byte of the DOs flipped: MAC, structure or indicator fails */
	for (size_t i = 0; i + 2 < r.len; i++) {
		r.data[i] ^= 0x01;
		expect_reject(&r, "flipped byte", NULL);
		r.data[i] ^= 0x01;
	}
	/* the outer SW is not protected and not used: DO99 rules */
	r.data[r.len - 1] = 0x85;
	r.data[r.len - 2] = 0x69;
	ck_assert_int_eq(try_resp2(r.data, r.len, &data, &sw, &e), 0);
	ck_assert_uint_eq(sw, 0x9000);
	tu_assert_hex(data.data, data.len, "A1A2A3A4A5A6A7A8");

	/* every prefix */
	for (size_t i = 0; i < r.len; i++) {
		smk_buf p = SMK_BUF_INIT;

		smk_buf_add(&p, r.data, i);
		expect_reject(&p, "prefix", NULL);
		smk_buf_free(&p);
	}

	/* replay: response 1 again, or response 2 one SSC late */
	smk_buf_reset(&r);
	tu_hex(&r, RESP1);
	expect_reject(&r, "replayed response 1", "MAC");
	{
		smsg_ctx *h = host_awaiting_resp2();

		smk_buf_reset(&r);
		tu_hex(&r, RESP2);
		smk_buf_reset(&data);
		ck_assert_int_eq(smsg_unwrap_response(h, r.data, r.len, &data, &sw, &e), 0);
		ck_assert_int_eq(smsg_unwrap_response(h, r.data, r.len, &data, &sw, &e), -1);
		ck_assert_int_eq(e.code, SMK_E_SM);
		smsg_free(h);
	}

	/* plain answers: the channel is gone, and the plain SW is reported */
	smk_buf_reset(&r);
	tu_hex(&r, "6982");
	expect_reject(&r, "plain 6982", "plain answer");
	ck_assert_int_eq(try_resp2(r.data, r.len, &data, &sw, &e), -1);
	ck_assert_uint_eq(e.sw, 0x6982);
	ck_assert_ptr_nonnull(strstr(e.msg, "secure channel lost"));
	smk_buf_reset(&r);
	tu_hex(&r, "A1A2A3A4A5A6A7A8 9000");
	expect_reject(&r, "plain data", NULL);

	/* missing DO99, missing DO8E */
	craft_resp2(&r, 0x87, 0x01, "A1A2A3A4A5A6A7A8 8000000000000000", "");
	expect_reject(&r, "no DO99", "secure channel lost");
	smk_buf_reset(&r);
	tu_hex(&r, "99029000 9000");
	expect_reject(&r, "no DO8E", "secure channel lost");

	/* DO87 with a wrong or missing padding-content indicator */
	craft_resp2(&r, 0x87, 0x02, "A1A2A3A4A5A6A7A8 8000000000000000", "99029000");
	expect_reject(&r, "indicator 02", "indicator");
	craft_resp2(&r, 0x87, -1, "A1A2A3A4A5A6A7A8 8000000000000000", "99029000");
	expect_reject(&r, "no indicator", NULL);

	/* bad padding: no 80, a stray byte after it, all zero */
	craft_resp2(&r, 0x87, 0x01, "A1A2A3A4A5A6A7A8 0000000000000000", "99029000");
	expect_reject(&r, "no 80", "padding");
	craft_resp2(&r, 0x87, 0x01, "A1A2A3A4A5A6A7A8 8000000000000001", "99029000");
	expect_reject(&r, "byte after padding", "padding");
	craft_resp2(&r, 0x87, 0x01, "00000000000000000000000000000000", "99029000");
	expect_reject(&r, "all zero", "padding");

	/* cryptogram not whole blocks, DO99 of the wrong size, DOs out of order,
	 * repeated, unknown, or after DO8E */
	craft_resp2(&r, 0, 0, NULL, "8709 01 A1A2A3A4A5A6A7A8 99029000");
	expect_reject(&r, "partial block", "blocks");
	craft_resp2(&r, 0, 0, NULL, "9903 900000");
	expect_reject(&r, "DO99 3 bytes", "DO99");
	craft_resp2(&r, 0x87, 0x01, "A1A2A3A4A5A6A7A8 8000000000000000", "99029000 99029000");
	expect_reject(&r, "DO99 twice", "repeated");
	craft_resp2(&r, 0, 0, NULL, "99029000 8711 01 00000000000000000000000000000000");
	expect_reject(&r, "DO87 after DO99", "order");
	craft_resp2(&r, 0, 0, NULL, "970100 99029000");
	expect_reject(&r, "DO97 in a response", "unexpected");
	craft_resp2(&r, 0, 0, NULL, "99029000");
	r.len -= 2;
	tu_hex(&r, "8E00 9000");
	expect_reject(&r, "DO after DO8E", "after DO8E");
	craft_resp2(&r, 0, 0, NULL, "99029000");
	r.len -= 2;
	tu_hex(&r, "00 9000");
	expect_reject(&r, "trailing byte", NULL);

	/* accepted variations: DO85 (OpenSC accepts it), 17 bytes of padding
	 * (pico), an error status inside DO99 */
	craft_resp2(&r, 0x85, -1, "A1A2A3A4A5A6A7A8 8000000000000000", "99029000");
	smk_buf_reset(&data);
	ck_assert_int_eq(try_resp2(r.data, r.len, &data, &sw, &e), 0);
	tu_assert_hex(data.data, data.len, "A1A2A3A4A5A6A7A8");
	craft_resp2(&r, 0x87, 0x01,
		    "A1A2A3A4A5A6A7A8A9AAABACADAEAF80 00000000000000000000000000000000",
		    "99029000");
	smk_buf_reset(&data);
	ck_assert_msg(try_resp2(r.data, r.len, &data, &sw, &e) == 0, "%s", e.msg);
	tu_assert_hex(data.data, data.len, "A1A2A3A4A5A6A7A8A9AAABACADAEAF");
	craft_resp2(&r, 0, 0, NULL, "99026A82");
	smk_buf_reset(&data);
	ck_assert_int_eq(try_resp2(r.data, r.len, &data, &sw, &e), 0);
	ck_assert_uint_eq(sw, 0x6A82);
	ck_assert_uint_eq(data.len, 0);

	/* garbage of every length up to 64 */
	for (size_t n = 0; n <= 64; n++) {
		smk_buf_reset(&r);
		for (size_t i = 0; i < n; i++)
			smk_buf_add_byte(&r, (uint8_t)(rand() & 0xFF));
		smk_buf_reset(&data);
		ck_assert_int_eq(try_resp2(r.data, r.len, &data, &sw, &e), -1);
		ck_assert_int_eq(e.code, SMK_E_SM);
	}

	smk_buf_free(&r);
	smk_buf_free(&data);
}
END_TEST

/* The card at SSC 2, about to see command 2 of §5.11. */
static smsg_ctx *card_awaiting_cmd2(void)
{
	smk_buf b = SMK_BUF_INIT, data = SMK_BUF_INIT;
	smsg_ctx *card, *host;
	apdu plain;
	smk_err e;

	example_pair(&host, &card);
	tu_hex(&b, VERIFY_PROT);
	ck_assert_int_eq(smsg_unwrap_command(card, b.data, b.len, &plain, &data, &e), 0);
	smk_buf_reset(&b);
	ck_assert_int_eq(smsg_wrap_response(card, NULL, 0, 0x9000, &b, &e), 0);
	smsg_free(host);
	smk_buf_free(&b);
	smk_buf_free(&data);
	return card;
}

static int try_cmd2(const uint8_t *cmd, size_t n, apdu *plain, smk_err *e)
{
	smsg_ctx *card = card_awaiting_cmd2();
	smk_buf data = SMK_BUF_INIT, out = SMK_BUF_INIT;
	uint8_t *exact = malloc(n + 1);
	int r;

	if (n)
		memcpy(exact, cmd, n);
	r = smsg_unwrap_command(card, exact, n, plain, &data, e);
	if (r < 0) {
		smk_err e2;

		ck_assert(!smsg_usable(card));
		ck_assert_uint_eq(data.len, 0);
		ck_assert_int_eq(smsg_wrap_response(card, NULL, 0, 0x9000, &out, &e2), -1);
		ck_assert_int_eq(e2.code, SMK_E_SM);
		ck_assert_uint_eq(out.len, 0);
	}
	free(exact);
	smsg_free(card);
	smk_buf_free(&data);
	smk_buf_free(&out);
	return r;
}

/* A command at SSC 3 made by hand: header, DOs in hex, correct DO8E, Le'. */
static void craft_cmd2(smk_buf *out, const char *hdr_hex, const char *dos_hex)
{
	uint8_t k_enc[16], k_mac[16], ssc[16] = {0}, mac[8];
	smk_buf hdr = SMK_BUF_INIT, dos = SMK_BUF_INIT, m = SMK_BUF_INIT;

	example_keys(k_enc, k_mac);
	ssc[15] = 3;
	tu_hex(&hdr, hdr_hex);
	tu_hex(&dos, dos_hex);
	smk_buf_add(&m, ssc, 16);
	smk_buf_add(&m, hdr.data, 4);
	tu_hex(&m, "800000000000000000000000");
	if (dos.len) {
		smk_buf_add(&m, dos.data, dos.len);
		smk_buf_add_byte(&m, 0x80);
		while (m.len % 16)
			smk_buf_add_byte(&m, 0x00);
	}
	cmac8(k_mac, m.data, m.len, mac);
	smk_buf_reset(out);
	smk_buf_add(out, hdr.data, 4);
	smk_buf_add_byte(out, (uint8_t)(dos.len + 10));
	smk_buf_add(out, dos.data, dos.len);
	tu_hex(out, "8E08");
	smk_buf_add(out, mac, 8);
	tu_hex(out, "00");
	smk_buf_free(&hdr);
	smk_buf_free(&dos);
	smk_buf_free(&m);
}

START_TEST(command_rejections)
{
	smk_buf c = SMK_BUF_INIT;
	apdu plain;
	smk_err e;

	/* the crafting helper reproduces command 2, and the card takes it */
	craft_cmd2(&c, "0C840000", "970108");
	tu_assert_hex(c.data, c.len, GETCH_PROT);
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), 0);
	ck_assert_uint_eq(plain.ne, 8);

	/* any byte flipped, any prefix */
	for (size_t i = 0; i < c.len; i++) {
		c.data[i] ^= 0x01;
		ck_assert_msg(try_cmd2(c.data, c.len, &plain, &e) == -1, "flip %zu", i);
		ck_assert_msg(e.code == SMK_E_SM, "flip %zu: %s", i, e.msg);
		c.data[i] ^= 0x01;
		ck_assert_msg(try_cmd2(c.data, i, &plain, &e) == -1, "prefix %zu", i);
		ck_assert_int_eq(e.code, SMK_E_SM);
	}

	/* replay of command 1 */
	smk_buf_reset(&c);
	tu_hex(&c, VERIFY_PROT);
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "MAC"));

	/* plain APDU, no DO8E, DO97 of 0 or 3 bytes, DO85 with even INS, DO99 */
	smk_buf_reset(&c);
	tu_hex(&c, "0084000008");
	ck_assert(!smsg_command_is_protected(c.data, c.len));
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);
	smk_buf_reset(&c);
	tu_hex(&c, "0C84000003 970108 00");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "DO8E"));
	craft_cmd2(&c, "0C840000", "9700");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);
	craft_cmd2(&c, "0C840000", "9703000008");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);
	craft_cmd2(&c, "0C200081", "8510 21B5DB3C2559135837C9FEDBD0567966");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "DO85"));
	craft_cmd2(&c, "0C840000", "99029000");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);
	craft_cmd2(&c, "0C840000", "970108 970108");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), -1);

	/* accepted: case 1 (only DO8E), two-byte Le 0000 = 65536 */
	craft_cmd2(&c, "0C840000", "");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), 0);
	ck_assert_uint_eq(plain.ne, 0);
	craft_cmd2(&c, "8CB10000", "97020000");
	ck_assert_int_eq(try_cmd2(c.data, c.len, &plain, &e), 0);
	ck_assert_uint_eq(plain.cla, 0x80);
	ck_assert_uint_eq(plain.ne, 65536);

	smk_buf_free(&c);
}
END_TEST

/* smsg_command_size is the length smsg_wrap_command really produces, for
 * short and extended, even and odd INS, with and without Le, across the
 * padding and length-field steps; and the §7.12 figures of SIGN. */
START_TEST(command_size_is_exact)
{
	static uint8_t data[1400];
	static const size_t lens[] = {0,   1,	15,  16,  17,  200,  222,  223, 238,
				      239, 240, 255, 256, 600, 1199, 1200, 1400};
	static const uint8_t ins[] = {0x68, 0xD7};
	static const size_t nes[] = {0, 256, 65536};
	smsg_ctx *h;
	smk_buf out = SMK_BUF_INIT;
	smk_err e;
	size_t i, j, k;

	example_pair(&h, NULL);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (j = 0; j < sizeof(ins); j++)
			for (k = 0; k < sizeof(nes) / sizeof(nes[0]); k++) {
				apdu a = {.cla = 0x80,
					  .ins = ins[j],
					  .data = data,
					  .lc = lens[i],
					  .ne = nes[k]};

				smk_buf_reset(&out);
				ck_assert_msg(smsg_wrap_command(h, &a, &out, &e) == 0, "%s", e.msg);
				ck_assert_msg(out.len == smsg_command_size(&a),
					      "INS %02X lc %zu ne %zu: %zu bytes, computed %zu",
					      a.ins, a.lc, a.ne, out.len, smsg_command_size(&a));
			}
	/* ref §7.12: SIGN, extended, Le 0000 */
	ck_assert_uint_eq(smsg_command_size(&(apdu){
			      .cla = 0x80, .ins = 0x68, .lc = 1199, .ne = 65536, .extended = true}),
			  1228);
	ck_assert_uint_eq(smsg_command_size(&(apdu){
			      .cla = 0x80, .ins = 0x68, .lc = 1200, .ne = 65536, .extended = true}),
			  1244);
	smk_buf_free(&out);
	smsg_free(h);
}
END_TEST

START_TEST(wrap_arguments)
{
	static uint8_t big[65535];
	smsg_ctx *h;
	smk_buf out = SMK_BUF_INIT;
	apdu a = {.ins = 0x20, .p2 = 0x81, .data = pin, .lc = sizeof(pin)};
	smk_err e;
	uint8_t k_enc[16], k_mac[16];
	char *hex;

	example_pair(&h, NULL);
	/* refused before anything changes: the session stays usable */
	a.cla = 0x0C;
	ck_assert_int_eq(smsg_wrap_command(h, &a, &out, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	a = (apdu){.ins = 0xD7, .data = big, .lc = sizeof(big)};
	ck_assert_int_eq(smsg_wrap_command(h, &a, &out, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	a = (apdu){.ins = 0x20, .lc = 4};
	ck_assert_int_eq(smsg_wrap_command(h, &a, &out, &e), -1);
	ck_assert_uint_eq(out.len, 0);
	ck_assert(smsg_usable(h));
	/* and still in step with the reference */
	a = (apdu){.ins = 0x20, .p2 = 0x81, .data = pin, .lc = sizeof(pin)};
	wrap_hex(h, &a, VERIFY_PROT);

	/* the largest data that fit, odd INS so DO85 without indicator */
	a = (apdu){.ins = 0xD7, .data = big, .lc = 65520};
	ck_assert_int_eq(smsg_wrap_command(h, &a, &out, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	a.lc = 65519; /* 65520 padded + 85 82 FFF0 + DO8E = 65534 */
	smk_buf_reset(&out);
	ck_assert_msg(smsg_wrap_command(h, &a, &out, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(out.len, 7 + 65534 + 2);
	tu_assert_hex(out.data, 7, "0CD7000000FFFE");
	tu_assert_hex(out.data + 7, 4, "8582FFF0");
	tu_assert_hex(out.data + out.len - 2, 2, "0000");

	/* no key ever appears in an error message */
	example_keys(k_enc, k_mac);
	smsg_free(h);
	h = host_awaiting_resp2();
	ck_assert_int_eq(smsg_unwrap_response(h, (const uint8_t *)"\x99\x02\x90\x00\x90\x00", 6,
					      &out, &(uint16_t){0}, &e),
			 -1);
	hex = smk_hex(k_enc, 16);
	ck_assert_ptr_null(strstr(e.msg, hex));
	free(hex);
	hex = smk_hex(k_mac, 16);
	ck_assert_ptr_null(strstr(e.msg, hex));
	free(hex);

	smsg_free(h);
	smk_buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sm");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, worked_example_handshake);
	tcase_add_test(tc, worked_example_messages);
	tcase_add_test(tc, interop_every_curve);
	tcase_add_test(tc, handshake_rejections);
	tcase_add_test(tc, response_rejections);
	tcase_add_test(tc, command_rejections);
	tcase_add_test(tc, wrap_arguments);
	tcase_add_test(tc, command_size_is_exact);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
