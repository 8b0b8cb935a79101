/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay-gate's message rules (relay/gate.h), against what both of its
 * untrusted peers can send. The input is a sequence of messages, each one
 * byte of direction (even: from vpcd, odd: from the card side), a 2-byte
 * length and that many bytes (cut short at the end of the input). A model
 * beside the gate holds what it must do. Invariants: every message leaves
 * as exactly one well-formed frame, to one side only, with its bytes
 * unchanged, except an ATR request the gate answers itself; it answers
 * only with nothing owed and only with the bytes of the card side's last
 * answer to an ATR request made since the last connect, power-on or reset;
 * an answer nobody asked for and a vpcd that does not wait are refused
 * (the connection ends); the counts add up.
 */
#include "fuzz.h"
#include "relay/gate.h"
#include "relay/relay.h"

struct model {
	uint8_t owed[GATE_PENDING_MAX]; /* 0 APDU, 1 ATR to keep, 2 ATR not to keep */
	size_t nowed;
	uint8_t atr[64];
	size_t atr_len;
	unsigned long apdus, local, crossed;
};

static void check_frame(const smk_buf *b, const uint8_t *p, size_t n)
{
	FZ_CHECK(b->len == n + 2);
	FZ_CHECK(((size_t)b->data[0] << 8 | b->data[1]) == n);
	FZ_CHECK(memcmp(b->data + 2, p, n) == 0);
}

/* Returns 0 to go on, -1 when the gate ended the connection. */
static int from_vpcd(gate *g, struct model *m, const uint8_t *msg, size_t n, smk_buf *to_card,
		     smk_buf *to_vpcd)
{
	smk_err e;
	int local = n == 1 && msg[0] == RELAY_VPCD_ATR && m->atr_len > 0 && m->nowed == 0;
	int owes = n > 1 || (n == 1 && msg[0] == RELAY_VPCD_ATR && !local);
	int rc = gate_from_vpcd(g, msg, n, to_card, to_vpcd, &e);

	if (owes && m->nowed == GATE_PENDING_MAX) {
		FZ_CHECK(rc < 0 && e.code == SMK_E_FORMAT);
		return -1;
	}
	FZ_CHECK(rc == 0);
	if (local) {
		FZ_CHECK(to_card->len == 0);
		check_frame(to_vpcd, m->atr, m->atr_len);
		m->local++;
		return 0;
	}
	FZ_CHECK(to_vpcd->len == 0);
	check_frame(to_card, msg, n);
	if (n > 1) {
		m->apdus++;
		m->owed[m->nowed++] = 0;
	} else if (msg[0] == RELAY_VPCD_ATR) {
		m->crossed++;
		m->owed[m->nowed++] = 1;
	} else if (msg[0] == RELAY_VPCD_POWER_ON || msg[0] == RELAY_VPCD_RESET) {
		m->atr_len = 0;
		for (size_t i = 0; i < m->nowed; i++)
			if (m->owed[i] == 1)
				m->owed[i] = 2;
	}
	return 0;
}

static int from_card(gate *g, struct model *m, const uint8_t *msg, size_t n, smk_buf *to_vpcd)
{
	smk_err e;
	int rc = gate_from_card(g, msg, n, to_vpcd, &e);
	uint8_t kind;

	if (m->nowed == 0) {
		FZ_CHECK(rc < 0 && e.code == SMK_E_FORMAT && to_vpcd->len == 0);
		return -1;
	}
	FZ_CHECK(rc == 0);
	check_frame(to_vpcd, msg, n);
	kind = m->owed[0];
	memmove(m->owed, m->owed + 1, --m->nowed);
	if (kind == 1) {
		m->atr_len = 0;
		if (n <= sizeof(m->atr)) {
			memcpy(m->atr, msg, n);
			m->atr_len = n;
		}
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smk_buf to_card = SMK_BUF_INIT, to_vpcd = SMK_BUF_INIT;
	struct model m;
	size_t off = 0;
	gate g;

	memset(&m, 0, sizeof(m));
	gate_init(&g);
	while (off + 3 <= size) {
		int dir = data[off] & 1;
		size_t n = (size_t)data[off + 1] << 8 | data[off + 2];
		const uint8_t *msg = data + off + 3;
		int rc;

		off += 3;
		if (n > size - off)
			n = size - off;
		off += n;
		if (n == 0) {
			/* the parser never yields an empty message; the rules
			 * refuse one all the same */
			if (dir == 0)
				FZ_CHECK(gate_from_vpcd(&g, msg, 0, &to_card, &to_vpcd, NULL) < 0);
			continue;
		}
		smk_buf_reset(&to_card);
		smk_buf_reset(&to_vpcd);
		rc = dir == 0 ? from_vpcd(&g, &m, msg, n, &to_card, &to_vpcd)
			      : from_card(&g, &m, msg, n, &to_vpcd);
		if (rc < 0)
			break;
		FZ_CHECK(g.npending == m.nowed);
		FZ_CHECK(g.st.apdus == m.apdus && g.st.atr_local == m.local &&
			 g.st.atr_forwarded == m.crossed);
	}
	smk_buf_free(&to_card);
	smk_buf_free(&to_vpcd);
	return 0;
}
