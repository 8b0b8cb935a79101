/* SPDX-License-Identifier: BSD-3-Clause */
#include "simtransport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sim_transport {
	sim_card *card;
	char name[64];
	int need_reconnect;
	int pending_reset; /* reset by a third party, not yet noticed */
	unsigned reconnects;
};

static unsigned long elapsed_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (unsigned long)(t1.tv_sec - t0->tv_sec) * 1000UL +
	       (unsigned long)((t1.tv_nsec - t0->tv_nsec) / 1000000L);
}

static int st_transmit(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp, unsigned timeout_ms,
		       smk_err *e)
{
	struct sim_transport *st = impl;
	smk_buf answer = SMK_BUF_INIT;
	struct timespec t0;
	int r;

	if (st->pending_reset) {
		st->pending_reset = 0;
		st->need_reconnect = 1;
		return smk_fail(e, SMK_E_RESET, "reader \"%s\": card was reset", st->name);
	}
	if (st->need_reconnect)
		return smk_fail(e, SMK_E_RESET, "reader \"%s\": not connected (reconnect first)",
				st->name);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = sim_card_transmit(st->card, cmd, n, &answer);
	if (r == SIM_ANSWERED && elapsed_ms(&t0) > timeout_ms) {
		st->need_reconnect = 1;
		r = smk_fail(e, SMK_E_TIMEOUT, "reader \"%s\": no answer within %u ms", st->name,
			     timeout_ms);
	} else if (r == SIM_ANSWERED) {
		r = smk_buf_add(resp, answer.data, answer.len) < 0
			? smk_fail(e, SMK_E_NOMEM, "out of memory")
			: 0;
	} else if (r == SIM_RESET || r == SIM_REMOVED) {
		st->need_reconnect = 1;
		r = smk_fail(e, SMK_E_RESET, "reader \"%s\": card was %s", st->name,
			     r == SIM_RESET ? "reset" : "removed");
	} else {
		r = smk_fail(e, SMK_E_NOMEM, "simulator: out of memory");
	}
	smk_buf_free(&answer);
	return r;
}

static int st_reconnect(void *impl, int reset, unsigned timeout_ms, smk_err *e)
{
	struct sim_transport *st = impl;

	(void)timeout_ms;
	(void)e;
	st->reconnects++;
	if (reset || st->need_reconnect)
		sim_card_reset(st->card);
	st->need_reconnect = 0;
	st->pending_reset = 0;
	return 0;
}

static const char *st_name(void *impl)
{
	return ((struct sim_transport *)impl)->name;
}

static const uint8_t *st_atr(void *impl, size_t *len)
{
	(void)impl;
	return sim_card_atr(len);
}

static void st_close(void *impl)
{
	free(impl);
}

static const struct smk_transport_ops sim_ops = {
    .transmit = st_transmit,
    .reconnect = st_reconnect,
    .name = st_name,
    .atr = st_atr,
    .close = st_close,
};

int simtransport_new(sim_card *card, const char *name, smk_transport **out, smk_err *e)
{
	struct sim_transport *st = calloc(1, sizeof(*st));
	smk_transport *t = calloc(1, sizeof(*t));

	*out = NULL;
	if (st == NULL || t == NULL) {
		free(st);
		free(t);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	st->card = card;
	snprintf(st->name, sizeof(st->name), "%s", name ? name : "sim");
	t->ops = &sim_ops;
	t->impl = st;
	*out = t;
	return 0;
}

void simtransport_reset_card(smk_transport *t)
{
	struct sim_transport *st = t->impl;

	sim_card_reset(st->card);
	st->pending_reset = 1;
}

void simtransport_set_card(smk_transport *t, sim_card *card)
{
	struct sim_transport *st = t->impl;

	st->card = card;
	sim_card_reset(card);
	st->pending_reset = 1;
}

unsigned simtransport_reconnects(const smk_transport *t)
{
	return ((const struct sim_transport *)t->impl)->reconnects;
}
