/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Chip authentication (MSE SET AT + GENERAL AUTHENTICATE with PrK.DevAut)
 * and the card side of AES secure messaging (reference §5), on top of
 * sm/ca.h and sm/smsg.h.
 *
 * SM failures (bad MAC, missing or malformed DOs, a protected APDU without a
 * session) are answered with 6988 in plain, and the session keys are
 * dropped together with the PIN state bound to them: the host must redo
 * chip authentication. What genuine firmware answers is open (reference
 * §10 q1); this is the strict reading of §5.8.
 */
#include "sim/sim_int.h"

#include "sm/ca.h"

void sim_sm_end(sim_card *c)
{
	if (c->sm_busy) { /* the running command's answer still needs the keys */
		c->sm_end_due = true;
		return;
	}
	smsg_free(c->sm);
	c->sm = NULL;
}

uint16_t sim_cmd_mse(sim_card *c, const apdu *a, smk_buf *out)
{
	(void)out;
	/* reference §5.2 step 4: SET AT for internal authentication */
	if (a->p1 != 0x41 || a->p2 != 0xA4)
		return SW_WRONG_P1P2;
	c->ca_selected = false;
	if (c->sm_busy) /* a new handshake starts in plain */
		return SW_CONDITIONS;
	if (ca_card_check_mse(a, NULL) < 0)
		return SW_WRONG_DATA; /* only id-CA-ECDH-AES-CBC-CMAC-128 */
	c->ca_selected = true;
	return SW_OK;
}

uint16_t sim_cmd_ga(sim_card *c, const apdu *a, smk_buf *out)
{
	smsg_ctx *ctx = NULL;

	if (a->p1 != 0 || a->p2 != 0)
		return SW_WRONG_P1P2;
	if (!c->ca_selected || c->sm_busy)
		return SW_CONDITIONS;
	c->ca_selected = false;
	if (c->keys[0] == NULL)
		return SW_REF_NOT_FOUND; /* no device key: never initialised by `init` */
	if (ca_card_respond(c->keys[0]->pkey, a->data, a->lc, NULL, out, &ctx, NULL) < 0)
		return SW_WRONG_DATA;
	/* the plain GA already ended any older session (card.c) */
	smsg_free(c->sm);
	c->sm = ctx;
	return SW_OK;
}

static int add_sw(smk_buf *b, uint16_t sw)
{
	uint8_t s[2] = {(uint8_t)(sw >> 8), (uint8_t)sw};

	return smk_buf_add(b, s, 2);
}

/* An SM error: answered in plain, the session and its PIN state are gone. */
static int sm_fail(sim_card *c, smk_buf *resp, uint16_t *sw)
{
	sim_sm_end(c);
	c->pin_ok = false;
	*sw = SW_SM_INCORRECT;
	smk_buf_reset(resp);
	return add_sw(resp, *sw);
}

int sim_sm_transmit(sim_card *c, const uint8_t *cmd, size_t n, const sim_fault *f, smk_buf *resp,
		    uint16_t *sw)
{
	smk_buf data = SMK_BUF_INIT, inner = SMK_BUF_INIT;
	apdu plain;
	int rc;

	if (c->sm == NULL || smsg_unwrap_command(c->sm, cmd, n, &plain, &data, NULL) < 0) {
		smk_buf_free(&data);
		return sm_fail(c, resp, sw);
	}
	c->sm_busy = true;
	c->sm_end_due = false;
	rc = sim_card_run_plain(c, &plain, f, &inner, sw);
	c->sm_busy = false;
	if (rc < 0)
		goto done;
	if (c->sm_filter != NULL) {
		c->sm_filter(c->sm_filter_ctx, plain.ins, &inner);
		if (inner.len < 2) {
			smk_buf_reset(&inner);
			if (add_sw(&inner, 0x6F00) < 0) {
				rc = -1;
				goto done;
			}
		}
		*sw = (uint16_t)(inner.data[inner.len - 2] << 8 | inner.data[inner.len - 1]);
	}
	if (f != NULL && f->action == SIM_FAULT_PLAIN) {
		/* the card answers as if SM were not there: the session is over */
		c->sm_end_due = true;
		c->pin_ok = false;
		rc = smk_buf_add(resp, inner.data, inner.len);
		goto done;
	}
	if (smsg_wrap_response(c->sm, inner.data, inner.len - 2, *sw, resp, NULL) < 0) {
		rc = sm_fail(c, resp, sw);
		goto done;
	}
	if (f != NULL && f->action == SIM_FAULT_BADMAC && resp->len >= 3)
		resp->data[resp->len - 3] ^= 0x01; /* last MAC byte, before the outer SW */
	if (f != NULL && f->action == SIM_FAULT_PLAIN_SW) {
		/* the card did the work and answered under SM; what reaches the
		 * host is a bare status word someone else put there */
		uint8_t bare[2] = {(uint8_t)(f->arg >> 8), (uint8_t)f->arg};

		smk_buf_reset(resp);
		rc = smk_buf_add(resp, bare, 2);
	}
done:
	if (c->sm_end_due) {
		c->sm_end_due = false;
		sim_sm_end(c);
	}
	smk_buf_free(&data);
	smk_buf_free(&inner);
	return rc;
}

void sim_card_set_sm_filter(sim_card *c, sim_sm_filter_fn fn, void *ctx)
{
	c->sm_filter = fn;
	c->sm_filter_ctx = ctx;
}
