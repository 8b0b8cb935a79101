/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay-gate: the notary's end of a slow relay link (docs/notary.md
 * "The gate"). It sits between the link and the notary's vpcd reader: a
 * relay connects to the gate as it would connect to vpcd, the gate connects
 * to vpcd as the card, and every vpcd message passes both ways unchanged,
 * except vpcd's ATR request (04). pcscd polls card presence about every
 * 0.4 s, and vpcd turns each poll into an ATR request; over a slow link
 * every poll is a round trip that APDUs queue behind. The gate answers the
 * request itself with the ATR it last saw come back from the card side.
 *
 * The cache is empty after a connect, a power-on and a reset: the first ATR
 * request after each crosses the link, and its answer is kept. So the ATR
 * pcscd records when it powers the card is always the card side's own
 * answer to that power-on; only the presence polls in between are answered
 * here. A power-off keeps the cache (the relay answers those polls from the
 * ATR it last saw as well, without the card).
 *
 * Like the relay the gate is untrusted: the notary's SM channel ends in the
 * card. It never interprets APDUs and logs counts, never bytes.
 */
#ifndef SMK_RELAY_GATE_H
#define SMK_RELAY_GATE_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"

/* Answers the card side owes vpcd at once: vpcd sends one message and
 * waits for its answer, so one is the norm; more is a broken peer. */
#define GATE_PENDING_MAX 4

typedef struct gate_stats {
	unsigned long apdus;	     /* passed to the card side */
	unsigned long atr_local;     /* ATR requests answered by the gate */
	unsigned long atr_forwarded; /* ATR requests that crossed the link */
	unsigned long power_ons, resets, power_offs, unknown;
} gate_stats;

typedef struct gate {
	uint8_t atr[64];		   /* the card side's last ATR answer */
	size_t atr_len;			   /* 0: none kept, the next ATR request crosses */
	uint8_t pending[GATE_PENDING_MAX]; /* what the card side owes, oldest first */
	size_t npending;
	gate_stats st;
} gate;

/* A fresh connection pair: no ATR kept, nothing owed, counts zero. */
void gate_init(gate *g);
/* One message from vpcd: framed into to_card, or (an ATR request the gate
 * answers) its answer framed into to_vpcd. Returns 0, or -1 when the card
 * side owes more answers than vpcd can have asked for. */
int gate_from_vpcd(gate *g, const uint8_t *msg, size_t n, smk_buf *to_card, smk_buf *to_vpcd,
		   smk_err *e);
/* One message from the card side: framed into to_vpcd unchanged (an answer
 * to an ATR request is also kept). Returns 0, or -1 when vpcd asked
 * nothing: the card side spoke unasked, and the connections are ended. */
int gate_from_card(gate *g, const uint8_t *msg, size_t n, smk_buf *to_vpcd, smk_err *e);
/* "12 APDUs; ATR requests: 30 answered here, 2 crossed; power on 1, ..." */
void gate_stats_text(const gate_stats *st, char *out, size_t cap);

typedef struct gate_opts {
	const char *listen; /* HOST:PORT the relay connects to */
	const char *vpcd;   /* HOST:PORT of the vpcd reader */
} gate_opts;

/* Listen, take one relay at a time, join it to vpcd, until *stop. Returns 0
 * when stopped, -1 when the listening socket cannot be had. Logs to
 * stderr. */
int gate_run(const gate_opts *o, volatile sig_atomic_t *stop, smk_err *e);

#endif
