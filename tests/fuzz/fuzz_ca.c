/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Chip authentication (sm/ca.h, ref §5.2-5.4) with the keys of the worked
 * example §5.11 (brainpoolP256r1, device d = 11..11, host d = 22..22):
 *  - host: ca_host_finish on a fresh host context, the input being the
 *    GENERAL AUTHENTICATE response data 7C { 81 nonce, 82 token };
 *  - card: ca_card_respond on the same bytes as GA command data 7C { 80 Q_h }
 *    (the simulator's parser), with a fixed nonce;
 *  - ca_card_check_mse on the input parsed as an MSE:SET AT APDU;
 *  - ca_host_new with the input as the device point Q_dev (what a device
 *    certificate hands over).
 */
#include "fuzz.h"
#include "sm/ca.h"

static const smk_curve *bp;
static EVP_PKEY *device_key;
static uint8_t d_dev[32], d_h[32], q_dev[65];

static void setup(void)
{
	smk_buf q = SMK_BUF_INIT;
	smk_err e;

	memset(d_dev, 0x11, sizeof(d_dev));
	memset(d_h, 0x22, sizeof(d_h));
	bp = curve_by_name("brainpoolP256r1");
	if (bp == NULL || ca_key_from_private(bp, d_dev, sizeof(d_dev), &device_key, &e) < 0 ||
	    ca_key_public(device_key, &q, &e) < 0 || q.len != sizeof(q_dev))
		fz_die("device key of ref §5.11", &e);
	memcpy(q_dev, q.data, q.len);
	smk_buf_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t nonce[CA_NONCE_LEN] = {1, 2, 3, 4, 5, 6, 7, 8};
	smk_buf resp = SMK_BUF_INIT;
	smsg_ctx *s = NULL, *again = NULL;
	ca_host *h = NULL;
	apdu mse;
	smk_err e;

	if (device_key == NULL)
		setup();

	if (ca_host_new(bp, q_dev, sizeof(q_dev), d_h, sizeof(d_h), &h, &e) < 0)
		fz_die("host context", &e);
	if (ca_host_finish(h, data, size, &s, &e) == 0) {
		/* only the device's own token gets here */
		FZ_CHECK(s != NULL && smsg_usable(s));
	} else {
		FZ_CHECK(s == NULL);
		FZ_CHECK(e.code == SMK_E_FORMAT || e.code == SMK_E_SM);
	}
	/* one handshake per context */
	FZ_CHECK(ca_host_finish(h, data, size, &again, &e) == -1 && e.code == SMK_E_ARG);
	FZ_CHECK(again == NULL);
	smsg_free(s);
	s = NULL;
	ca_host_free(h);
	h = NULL;

	if (ca_card_respond(device_key, data, size, nonce, &resp, &s, &e) == 0) {
		FZ_CHECK(s != NULL);
		FZ_CHECK(resp.len == 22 && resp.data[0] == 0x7C && resp.data[1] == 0x14);
		FZ_CHECK(memcmp(resp.data + 4, nonce, sizeof(nonce)) == 0);
	} else {
		FZ_CHECK(s == NULL && resp.len == 0);
	}
	smsg_free(s);
	s = NULL;
	smk_buf_free(&resp);

	if (apdu_parse(data, size, &mse, &e) == 0)
		(void)ca_card_check_mse(&mse, &e);

	if (ca_host_new(bp, data, size, d_h, sizeof(d_h), &h, &e) == 0) {
		FZ_CHECK(size == sizeof(q_dev) && data[0] == 0x04);
		ca_host_free(h);
	}
	return 0;
}
