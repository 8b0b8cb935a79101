/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card object and the APDU dispatcher: framing checks, secure messaging
 * on and off, faults, counting, latency, and saving the state after every
 * command that changed it.
 */
#include "sim/sim_int.h"
#include "sm/hsm.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* reference §1.3: contact card / USB token ATR, historical bytes "HSM1" */
static const uint8_t sim_atr[] = {0x3B, 0xFE, 0x18, 0x00, 0x00, 0x81, 0x31, 0xFE,
				  0x45, 0x80, 0x31, 0x81, 0x54, 0x48, 0x53, 0x4D,
				  0x31, 0x73, 0x80, 0x21, 0x40, 0x81, 0x07, 0xFA};

const uint8_t *sim_card_atr(size_t *n)
{
	*n = sizeof(sim_atr);
	return sim_atr;
}

sim_card *sim_card_new(void)
{
	sim_card *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->pin_max = 3;
	c->so_left = 15;
	return c;
}

void sim_card_free(sim_card *c)
{
	size_t i;

	if (c == NULL)
		return;
	sim_sm_end(c);
	for (i = 0; i < c->n_files; i++) {
		c->files[i].data.secret = 1; /* PIN-protected data objects */
		smk_buf_free(&c->files[i].data);
	}
	free(c->files);
	for (i = 0; i < 256; i++)
		sim_key_free(c->keys[i]);
	free(c->state_path);
	smk_buf_free(&c->get_response);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

const char *sim_card_chr(const sim_card *c)
{
	return c->chr;
}

void sim_card_reset(sim_card *c)
{
	sim_sm_end(c);
	c->removed = false;
	c->selected = false;
	c->cur_ef = 0;
	c->pin_ok = false;
	c->ca_selected = false;
	smk_buf_reset(&c->get_response);
}

/* Class byte each command must carry, without the SM bits (reference §1.4). */
struct sim_cmd {
	uint8_t ins;
	uint8_t cla;
	sim_cmd_fn *fn;
};

static const struct sim_cmd commands[] = {
    {0xA4, 0x00, sim_cmd_select},     {0x58, 0x80, sim_cmd_enumerate},
    {0xB1, 0x00, sim_cmd_read},	      {0xD7, 0x00, sim_cmd_update},
    {0xE4, 0x00, sim_cmd_delete},     {0x20, 0x00, sim_cmd_verify},
    {0x24, 0x00, sim_cmd_change},     {0x2C, 0x00, sim_cmd_reset_retry},
    {0x50, 0x80, sim_cmd_initialize}, {0x84, 0x00, sim_cmd_challenge},
    {0x52, 0x80, sim_cmd_domain},     {0x22, 0x00, sim_cmd_mse},
    {0x86, 0x00, sim_cmd_ga},	      {0x46, 0x00, sim_cmd_gakp},
    {0x68, 0x80, sim_cmd_sign},	      {0x62, 0x80, sim_cmd_decipher},
    {0x72, 0x80, sim_cmd_wrap},	      {0x74, 0x80, sim_cmd_unwrap},
};

static uint16_t dispatch(sim_card *c, const apdu *a, smk_buf *out)
{
	size_t i;

	/* GET RESPONSE exists only on a card with the read-61xx quirk, and
	 * only right after the answer it continues */
	if (a->ins == 0xC0 && (c->quirks & SIM_QUIRK_READ_61XX) && a->cla == 0x00)
		return sim_cmd_get_response(c, a, out);
	smk_buf_reset(&c->get_response);

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (commands[i].ins != a->ins)
			continue;
		if ((a->cla & ~0x0C) != commands[i].cla)
			return SW_CLA_UNSUPPORTED;
		/* the applet is not default-selected (reference §1.1): until it
		 * is, the card manager knows none of its commands */
		if (!c->selected && a->ins != 0xA4)
			return SW_INS_UNSUPPORTED;
		return commands[i].fn(c, a, out);
	}
	return SW_INS_UNSUPPORTED;
}

static int add_sw(smk_buf *b, uint16_t sw)
{
	uint8_t s[2] = {(uint8_t)(sw >> 8), (uint8_t)sw};

	return smk_buf_add(b, s, 2);
}

/* Run one plain command: data and SW into out. */
static int run_plain(sim_card *c, const apdu *a, smk_buf *out, uint16_t *sw)
{
	smk_buf_reset(out);
	*sw = dispatch(c, a, out);
	if (*sw != SW_OK && *sw != SW_EOF && (*sw & 0xFF00) != 0x6100)
		smk_buf_reset(out); /* error answers carry no data; 61xx does */
	return add_sw(out, *sw);
}

static void save_if_dirty(sim_card *c, uint16_t *sw, smk_buf *plain)
{
	smk_err e;

	if (!c->dirty)
		return;
	c->dirty = false;
	if (c->state_path == NULL)
		return;
	if (sim_card_save(c, NULL, &e) < 0) {
		/* like a card whose EEPROM write failed: memory failure */
		fprintf(stderr, "smkey-sim: %s\n", e.msg);
		*sw = 0x6581;
		smk_buf_reset(plain);
		add_sw(plain, *sw);
	}
}

static uint16_t resp_sw(const smk_buf *r)
{
	if (r->len < 2)
		return 0;
	return (uint16_t)(r->data[r->len - 2] << 8 | r->data[r->len - 1]);
}

int sim_card_transmit(sim_card *c, const uint8_t *cmd, size_t n, smk_buf *resp)
{
	struct timespec start;
	const sim_fault *f;
	smk_buf plain = SMK_BUF_INIT;
	const char *fault_name = NULL;
	apdu a;
	uint16_t sw = 0;
	bool sm;
	int rc = SIM_ANSWERED;

	clock_gettime(CLOCK_MONOTONIC, &start);
	smk_buf_reset(resp);
	if (c->removed)
		return SIM_REMOVED;
	c->extra_ms = 0;
	c->stats.apdus++;
	c->stats.bytes_in += n;
	sm = smsg_command_is_protected(cmd, n);
	if (sm) {
		c->stats.sm++;
		c->stats.sm_by_ins[n >= 2 ? cmd[1] : 0]++;
	} else {
		c->stats.plain++;
		c->stats.plain_by_ins[n >= 2 ? cmd[1] : 0]++;
	}

	memset(&a, 0, sizeof(a));
	if (n >= 4) {
		a.cla = cmd[0];
		a.ins = cmd[1];
		a.p1 = cmd[2];
		a.p2 = cmd[3];
	}
	if (n > HSM_APDU_MAX) {
		/* ref §7.12: more than the card's APDU buffer takes, plain or
		 * protected; nothing of it runs */
		sw = SW_WRONG_LENGTH;
		rc = add_sw(resp, sw);
		goto done;
	}
	f = sim_fault_match(c, a.ins);
	if (f != NULL) {
		c->stats.faults++;
		switch (f->action) {
		case SIM_FAULT_RESET:
			sim_log_apdu(c, &a, sm, n, 0, 0, "reset");
			sim_card_reset(c);
			return SIM_RESET;
		case SIM_FAULT_REMOVE:
			sim_log_apdu(c, &a, sm, n, 0, 0, "remove");
			sim_card_reset(c);
			c->removed = true;
			c->removed_ms = f->arg;
			return SIM_REMOVED;
		case SIM_FAULT_LATE:
			c->extra_ms += f->arg;
			fault_name = "late";
			break;
		case SIM_FAULT_SW:
			fault_name = "sw";
			break;
		case SIM_FAULT_BADMAC:
			fault_name = "badmac";
			break;
		case SIM_FAULT_PLAIN:
			fault_name = "plain";
			break;
		case SIM_FAULT_PLAIN_SW:
			fault_name = "plainsw";
			break;
		}
	}

	if (sm) {
		/* malformed framing is an SM failure like any other */
		rc = sim_sm_transmit(c, cmd, n, f, resp, &sw);
		if (sw == SW_SM_INCORRECT && resp->len == 2)
			c->stats.sm_errors++;
		save_if_dirty(c, &sw, resp);
		goto done;
	}
	if (c->sm != NULL) {
		/* fw >= 2.0 (reference §5.8): a plain APDU, well-formed or not,
		 * ends the secure channel and the authentication gained under it */
		sim_sm_end(c);
		c->pin_ok = false;
	}
	if (apdu_parse(cmd, n, &a, NULL) < 0) {
		sw = SW_WRONG_LENGTH;
		rc = add_sw(resp, sw);
		goto done;
	}
	if (f != NULL && f->action == SIM_FAULT_SW) {
		sw = (uint16_t)f->arg;
		rc = add_sw(resp, sw);
		goto done;
	}
	rc = run_plain(c, &a, &plain, &sw);
	save_if_dirty(c, &sw, &plain);
	if (rc == 0)
		rc = smk_buf_add(resp, plain.data, plain.len);
done:
	smk_buf_free(&plain);
	if (rc < 0) {
		smk_buf_reset(resp);
		return -1;
	}
	c->stats.bytes_out += resp->len;
	/* under SM the log shows the inner status word, the one that matters */
	sim_log_apdu(c, &a, sm, n, resp->len, sw ? sw : resp_sw(resp), fault_name);
	sim_latency_wait(c, &start, n + resp->len);
	return SIM_ANSWERED;
}

/* Used by secure.c: run the unprotected command of a protected APDU. */
int sim_card_run_plain(sim_card *c, const apdu *a, const sim_fault *f, smk_buf *out, uint16_t *sw)
{
	if (f != NULL && f->action == SIM_FAULT_SW) {
		smk_buf_reset(out);
		*sw = (uint16_t)f->arg;
		return add_sw(out, *sw);
	}
	return run_plain(c, a, out, sw);
}
