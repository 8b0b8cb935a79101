/*
 * Chip authentication (MSE SET AT + GENERAL AUTHENTICATE with PrK.DevAut)
 * and the card side of AES secure messaging (reference §5).
 *
 * SM failures (bad MAC, missing or malformed DOs, protected APDU without a
 * session) are answered with 6988 in plain and the session keys are dropped,
 * together with the PIN state bound to them: the host must redo chip
 * authentication. Genuine behaviour is open (reference §10 q1); this is the
 * strict reading of §5.8.
 */
#include "sim/sim_int.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "sm/tlv.h"

/* reference §3.5: id-CA-ECDH-AES-CBC-CMAC-128 */
static const uint8_t oid_ca_aes128[] = {0x04, 0x00, 0x7F, 0x00, 0x07,
					0x02, 0x02, 0x03, 0x02, 0x02};

struct sim_sm {
	uint8_t k_enc[16], k_mac[16];
	uint8_t ssc[16];
};

void sim_sm_end(sim_card *c)
{
	if (c->sm == NULL)
		return;
	OPENSSL_cleanse(c->sm, sizeof(*c->sm));
	free(c->sm);
	c->sm = NULL;
}

uint16_t sim_cmd_mse(sim_card *c, const apdu *a, smk_buf *out)
{
	tlv t;

	(void)out;
	/* reference §5.2 step 4: SET AT for internal authentication, DO 80
	 * with the protocol OID and no key reference */
	if (a->p1 != 0x41 || a->p2 != 0xA4)
		return SW_WRONG_P1P2;
	c->ca_selected = false;
	if (tlv_find(a->data, a->lc, 0x80, &t, NULL) != 1)
		return SW_WRONG_DATA;
	if (t.len != sizeof(oid_ca_aes128) || memcmp(t.value, oid_ca_aes128, t.len) != 0)
		return SW_WRONG_DATA; /* only the AES-128 variant is simulated */
	if (tlv_find(a->data, a->lc, 0x84, &t, NULL) == 1 && !(t.len == 1 && t.value[0] == 0))
		return SW_REF_NOT_FOUND; /* only the device key can do CA */
	c->ca_selected = true;
	return SW_OK;
}

static int add_sw(smk_buf *b, uint16_t sw)
{
	uint8_t s[2] = {(uint8_t)(sw >> 8), (uint8_t)sw};

	return smk_buf_add(b, s, 2);
}

/* An SM error: answered in plain, the session is gone. */
static int sm_fail(sim_card *c, smk_buf *resp, uint16_t *sw)
{
	sim_sm_end(c);
	c->pin_ok = false;
	*sw = SW_SM_INCORRECT;
	smk_buf_reset(resp);
	return add_sw(resp, *sw);
}

int sim_sm_transmit(sim_card *c, const apdu *a, const sim_fault *f, smk_buf *resp,
		    uint16_t *sw)
{
	(void)a;
	(void)f;
	if (c->sm == NULL)
		return sm_fail(c, resp, sw);
	return sm_fail(c, resp, sw);
}
