/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay's vpcd side, what a hostile notary (or anything on the path)
 * can send: the input is the byte stream from vpcd, fed to relay_parse in
 * pseudo-random splits (the first byte seeds them) and every message to
 * relay_handle over a fake card that answers each command with its bytes
 * reversed and a status word. Invariants: the parser never takes more than
 * it is given; every reply is one well-formed message (its length prefix
 * is the rest, 1..65535 bytes); an APDU reaches the card unchanged and its
 * answer comes back unchanged; the card is held exactly while powered
 * (never two connections); after a card failure it is released; the log
 * carries no 8 bytes of any command in hex.
 */
#include "fuzz.h"
#include "relay/relay.h"

struct fz_card {
	int held, fail_next;
	size_t last_len;
	uint8_t last[RELAY_FRAME_MAX];
};

static int fz_transmit(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp, unsigned timeout_ms,
		       smk_err *e)
{
	struct fz_card *c = impl;

	(void)timeout_ms;
	FZ_CHECK(c->held);
	/* a command whose first byte is 0xEE makes the card fail */
	if (cmd[0] == 0xEE)
		return smk_fail(e, SMK_E_IO, "fuzz card: lost");
	memcpy(c->last, cmd, n);
	c->last_len = n;
	for (size_t i = 0; i < n; i++)
		FZ_CHECK(smk_buf_add_byte(resp, cmd[n - 1 - i]) == 0);
	FZ_CHECK(smk_buf_add(resp, "\x90\x00", 2) == 0);
	return 0;
}

static int fz_reconnect(void *impl, int reset, unsigned timeout_ms, smk_err *e)
{
	(void)impl;
	(void)reset;
	(void)timeout_ms;
	(void)e;
	return 0;
}

static const char *fz_name(void *impl)
{
	(void)impl;
	return "fuzz reader";
}

static const uint8_t *fz_atr(void *impl, size_t *len)
{
	static const uint8_t atr[] = {0x3B, 0x8E, 0x80, 0x01};

	(void)impl;
	*len = sizeof(atr);
	return atr;
}

static void fz_close(void *impl)
{
	struct fz_card *c = impl;

	FZ_CHECK(c->held);
	c->held = 0;
}

static const struct smk_transport_ops fz_ops = {fz_transmit, fz_reconnect, fz_name,
						fz_atr,	     fz_close,	   NULL};

/* transport_close frees the transport */
static int fz_open(void *ctx, smk_transport **out, smk_err *e)
{
	struct fz_card *c = ctx;
	smk_transport *t = calloc(1, sizeof(*t));

	(void)e;
	FZ_CHECK(t != NULL && !c->held);
	c->held = 1;
	t->ops = &fz_ops;
	t->impl = c;
	*out = t;
	return 0;
}

static char fz_log[1 << 16];

static void fz_keep(void *ctx, const char *line)
{
	size_t have = strlen(fz_log), n = strlen(line);

	(void)ctx;
	if (have + n + 2 < sizeof(fz_log)) {
		memcpy(fz_log + have, line, n);
		fz_log[have + n] = '\n';
		fz_log[have + n + 1] = '\0';
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static relay_parser p;
	static struct fz_card card;
	smk_buf out = SMK_BUF_INIT;
	uint32_t seed = size ? data[0] : 0;
	size_t off = size ? 1 : 0;
	relay r;
	smk_err e;

	memset(&card, 0, sizeof(card));
	fz_log[0] = '\0';
	relay_init(&r, fz_open, &card, 1000);
	r.log = fz_keep;
	relay_parser_init(&p);
	while (off < size) {
		size_t chunk, used;
		int got;

		seed = seed * 1103515245u + 12345u;
		chunk = 1 + (seed >> 16) % 300;
		if (chunk > size - off)
			chunk = size - off;
		got = relay_parse(&p, data + off, chunk, &used, &e);
		FZ_CHECK(used <= chunk);
		off += used;
		if (got < 0) {
			FZ_CHECK(e.code == SMK_E_FORMAT);
			break;
		}
		if (got == 0) {
			FZ_CHECK(used == chunk);
			continue;
		}
		FZ_CHECK(p.len >= 1 && p.len <= RELAY_FRAME_MAX);
		smk_buf_reset(&out);
		if (relay_handle(&r, p.msg, p.len, &out, &e) < 0) {
			/* a failed card is released: the connection ends */
			FZ_CHECK(r.card == NULL && !card.held);
			FZ_CHECK(out.len == 0);
			break;
		}
		FZ_CHECK(card.held == (r.card != NULL));
		if (out.len) {
			size_t n = (size_t)out.data[0] << 8 | out.data[1];

			FZ_CHECK(n >= 1 && n + 2 == out.len);
		}
		if (p.len > 1) {
			/* the APDU reached the card as sent; the answer came back */
			FZ_CHECK(card.last_len == p.len && memcmp(card.last, p.msg, p.len) == 0);
			FZ_CHECK(out.len == p.len + 4);
			FZ_CHECK(out.data[2] == p.msg[p.len - 1]);
		} else if (p.msg[0] == RELAY_VPCD_ATR) {
			FZ_CHECK(out.len == 6);
		} else {
			FZ_CHECK(out.len == 0);
		}
		if (p.len >= 8) {
			char hex[17];

			for (int i = 0; i < 8; i++)
				snprintf(hex + 2 * i, 3, "%02X", p.msg[i]);
			FZ_CHECK(strcasestr(fz_log, hex) == NULL);
		}
	}
	relay_power_off(&r);
	FZ_CHECK(!card.held);
	smk_buf_free(&out);
	return 0;
}
