/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Authenticated CV requests (`67`, ref §6.3) as GAKP returns them, verified
 * with chain_verify_authreq:
 *  - against the genuine DENK0404144 chain of tests/data/cvc, validated
 *    against etc/trust: parsing, outer CAR, outer signature by the device;
 *  - against a device whose key the harness holds (brainpoolP256r1,
 *    d = 11..11 of ref §5.11): every input that parses is re-signed on the
 *    outside, so the fuzzer reaches what lies behind the outer signature
 *    (the new key's conversion, its inner self-signature, SPKI and PEM).
 */
#include "fuzz.h"
#include "sm/ca.h"

static trust_store roots = TRUST_STORE_INIT;
static devaut_chain genuine, test_device;
static EVP_PKEY *test_device_key;

static void setup(void)
{
	static const uint8_t d[32] = {
	    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	    0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
	};
	const smk_curve *bp = curve_by_name("brainpoolP256r1");
	smk_err e;

	fz_trust(&roots);
	fz_genuine_chain(&roots, &genuine);
	if (bp == NULL || ca_key_from_private(bp, d, sizeof(d), &test_device_key, &e) < 0)
		fz_die("test device key", &e);
	/* the fields chain_verify_authreq reads; the key is borrowed */
	memcpy(test_device.device_chr, genuine.device_chr, sizeof(test_device.device_chr));
	test_device.curve = bp;
	test_device.alg = cvc_alg_default(SMK_KEY_EC);
	test_device.key = test_device_key;
}

static void check_attested(const chain_attested *a, const cvc_authreq *req)
{
	FZ_CHECK(a->key != NULL && a->pem != NULL && a->spki.len > 0);
	FZ_CHECK(strcmp(a->chr, req->req.chr) == 0);
	FZ_CHECK(strcmp(a->outer_car, req->outer_car) == 0);
	FZ_CHECK(a->type == req->req.key.alg->keytype);
	FZ_CHECK((a->curve != NULL) == (a->type == SMK_KEY_EC));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smk_buf resigned = SMK_BUF_INIT;
	chain_attested a;
	cvc_authreq parsed;
	smk_err e;

	if (genuine.key == NULL)
		setup();
	if (chain_verify_authreq(&genuine, data, size, &a, &e) == 0) {
		FZ_CHECK(cvc_parse_authreq(data, size, &parsed, &e) == 0);
		check_attested(&a, &parsed);
	} else {
		FZ_CHECK(a.key == NULL && a.pem == NULL && a.spki.len == 0);
	}
	chain_attested_free(&a);

	if (cvc_parse_authreq(data, size, &parsed, &e) < 0)
		return 0;
	if (cvc_encode_authreq(&resigned, parsed.req.raw, parsed.req.raw_len,
			       test_device.device_chr, test_device_key, test_device.alg, &e) < 0)
		fz_die("re-signing a parsed request", &e);
	if (chain_verify_authreq(&test_device, resigned.data, resigned.len, &a, &e) == 0) {
		FZ_CHECK(cvc_parse_authreq(resigned.data, resigned.len, &parsed, &e) == 0);
		check_attested(&a, &parsed);
	} else {
		/* the outer signature is ours: any refusal is about the inner request */
		FZ_CHECK(strstr(e.msg, "outer signature by device") == NULL);
		FZ_CHECK(a.key == NULL);
	}
	chain_attested_free(&a);
	smk_buf_free(&resigned);
	return 0;
}
