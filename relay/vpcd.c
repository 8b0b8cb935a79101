/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The relay's vpcd side: the stream parser and the state machine that maps
 * vpcd's control codes onto the local card (relay/relay.h). Nothing here
 * writes an APDU's bytes anywhere but to the card and back to vpcd.
 */
#include "relay/relay.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void relay_parser_init(relay_parser *p)
{
	p->hdr_have = 0;
	p->len = 0;
	p->have = 0;
}

int relay_parse(relay_parser *p, const uint8_t *in, size_t n, size_t *used, smk_err *e)
{
	size_t i = 0, take;

	*used = 0;
	if (p->hdr_have == 2 && p->have == p->len) /* the last message was taken */
		relay_parser_init(p);
	while (p->hdr_have < 2 && i < n)
		p->hdr[p->hdr_have++] = in[i++];
	*used = i;
	if (p->hdr_have < 2)
		return 0;
	if (p->have == 0 && p->len == 0) {
		p->len = (size_t)p->hdr[0] << 8 | p->hdr[1];
		if (p->len == 0) {
			relay_parser_init(p);
			return smk_fail(e, SMK_E_FORMAT,
					"vpcd stream: a message of length 0 (not vpcd framing)");
		}
	}
	take = p->len - p->have;
	if (take > n - i)
		take = n - i;
	memcpy(p->msg + p->have, in + i, take);
	p->have += take;
	*used = i + take;
	return p->have == p->len ? 1 : 0;
}

int relay_frame(smk_buf *out, const uint8_t *p, size_t n, smk_err *e)
{
	uint8_t hdr[2] = {(uint8_t)(n >> 8), (uint8_t)n};

	if (n == 0 || n > RELAY_FRAME_MAX)
		return smk_fail(e, SMK_E_ARG, "vpcd stream: a message of %zu bytes", n);
	if (smk_buf_add(out, hdr, 2) < 0 || smk_buf_add(out, p, n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "vpcd stream: out of memory");
	return 0;
}

static void say(relay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(relay *r, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (r->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	r->log(r->log_ctx, line);
}

void relay_init(relay *r, relay_open_fn open, void *open_ctx, unsigned timeout_ms)
{
	memset(r, 0, sizeof(*r));
	r->open = open;
	r->open_ctx = open_ctx;
	r->timeout_ms = timeout_ms;
}

void relay_stats_text(const relay_stats *st, char *out, size_t cap)
{
	size_t i, used;
	int n;

	n = snprintf(out, cap, "%lu APDU%s", st->apdus, st->apdus == 1 ? "" : "s");
	used = n < 0 ? 0 : (size_t)n;
	for (i = 0; i < st->sw_kinds && used < cap; i++) {
		n = snprintf(out + used, cap - used, "%s%04X x%lu", i ? ", " : ", SW ", st->sw[i],
			     st->sw_count[i]);
		used += n < 0 ? 0 : (size_t)n;
	}
	if (st->sw_other && used < cap)
		snprintf(out + used, cap - used, ", %lu with other SWs", st->sw_other);
}

static void count_sw(relay_stats *st, uint16_t sw)
{
	size_t i;

	st->apdus++;
	st->total++;
	for (i = 0; i < st->sw_kinds; i++)
		if (st->sw[i] == sw) {
			st->sw_count[i]++;
			return;
		}
	if (st->sw_kinds == RELAY_SW_KINDS) {
		st->sw_other++;
		return;
	}
	st->sw[st->sw_kinds] = sw;
	st->sw_count[st->sw_kinds++] = 1;
}

static void forget_session(relay_stats *st)
{
	st->apdus = 0;
	st->sw_kinds = 0;
	st->sw_other = 0;
}

static void keep_atr(relay *r)
{
	size_t n = 0;
	const uint8_t *atr = transport_atr(r->card, &n);

	if (atr && n > 0 && n <= sizeof(r->atr)) {
		memcpy(r->atr, atr, n);
		r->atr_len = n;
	}
}

static int power_on(relay *r, smk_err *e)
{
	if (r->open(r->open_ctx, &r->card, e) < 0) {
		r->card = NULL;
		return smk_context(e, "relay: powering the card on");
	}
	keep_atr(r);
	r->st.power_ons++;
	forget_session(&r->st);
	say(r, "card powered on for the remote reader (exclusive)");
	return 0;
}

void relay_power_off(relay *r)
{
	char text[400];

	if (r->card == NULL)
		return;
	transport_close(r->card);
	r->card = NULL;
	relay_stats_text(&r->st, text, sizeof(text));
	say(r, "card powered off and released: %s", text);
	forget_session(&r->st);
}

static int reset(relay *r, smk_err *e)
{
	char text[400];

	if (r->card == NULL)
		return power_on(r, e);
	relay_stats_text(&r->st, text, sizeof(text));
	if (transport_reconnect(r->card, 1, r->timeout_ms, e) < 0) {
		relay_power_off(r);
		return smk_context(e, "relay: resetting the card");
	}
	keep_atr(r);
	r->st.resets++;
	say(r, "card reset by the remote reader after %s", text);
	forget_session(&r->st);
	return 0;
}

int relay_probe(relay *r, smk_err *e)
{
	if (r->card)
		return 0;
	if (r->open(r->open_ctx, &r->card, e) < 0) {
		r->card = NULL;
		return -1;
	}
	keep_atr(r);
	transport_close(r->card);
	r->card = NULL;
	return 0;
}

/* The ATR without powering the card for the remote side: the one last
 * seen, else a short connection to read it. */
static int answer_atr(relay *r, smk_buf *out, smk_err *e)
{
	r->st.atrs++;
	if (r->atr_len == 0 && relay_probe(r, e) < 0)
		return smk_context(e, "relay: reading the ATR");
	if (r->atr_len == 0)
		return smk_fail(e, SMK_E_IO, "relay: the card has no ATR to give");
	return relay_frame(out, r->atr, r->atr_len, e);
}

static int transmit(relay *r, const uint8_t *cmd, size_t n, smk_buf *out, smk_err *e)
{
	smk_buf resp = SMK_BUF_INIT;
	int rc;

	/* an APDU to a card that is not powered: vpcd powers first, but a
	 * command means the remote side wants the card */
	if (r->card == NULL && power_on(r, e) < 0)
		return -1;
	if (transport_transmit(r->card, cmd, n, &resp, r->timeout_ms, e) < 0) {
		/* reset, removed, timed out or lost in flight: the card's state
		 * (SM keys, PIN) is gone or unknown, so the remote side must see
		 * the card go away and start again */
		relay_power_off(r);
		smk_buf_free(&resp);
		return smk_context(e, "relay: after %lu APDUs", r->st.total);
	}
	if (resp.len < 2 || resp.len > RELAY_FRAME_MAX) {
		rc = smk_fail(e, SMK_E_IO, "relay: the card answered %zu bytes", resp.len);
		relay_power_off(r);
	} else {
		count_sw(&r->st,
			 (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]));
		rc = relay_frame(out, resp.data, resp.len, e);
	}
	smk_buf_free(&resp);
	return rc;
}

int relay_handle(relay *r, const uint8_t *msg, size_t n, smk_buf *out, smk_err *e)
{
	if (n == 0)
		return smk_fail(e, SMK_E_FORMAT, "vpcd stream: an empty message");
	if (n > 1)
		return transmit(r, msg, n, out, e);
	switch (msg[0]) {
	case RELAY_VPCD_POWER_OFF:
		relay_power_off(r);
		return 0;
	case RELAY_VPCD_POWER_ON:
		/* a power-on is a cold start: nothing from before survives */
		return r->card ? reset(r, e) : power_on(r, e);
	case RELAY_VPCD_RESET:
		return reset(r, e);
	case RELAY_VPCD_ATR:
		return answer_atr(r, out, e);
	default:
		/* unknown control codes are ignored, as vpcd's own cards do */
		r->st.unknown++;
		return 0;
	}
}
