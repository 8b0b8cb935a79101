/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card transport: raw command bytes in, raw response bytes out, with a
 * deadline. It knows nothing about APDU meaning or secure messaging; the
 * session (sm/session.h) builds on it. Two implementations: PC/SC through
 * pcsc-lite (sm/pcsc.h) and, for unit tests, the simulator in-process.
 *
 * Errors are typed so the session can decide what to do next:
 *   SMK_E_RESET   the card was reset, removed or re-powered before the
 *                 command reached it (PC/SC reports such events on the next
 *                 call, before sending): the command was not executed, and
 *                 every state the card held for us (selected applet, SM keys,
 *                 PIN) is gone; transport_reconnect() is the way back.
 *   SMK_E_TIMEOUT no answer before the deadline; the transport is unusable
 *                 until transport_reconnect() succeeds.
 *   SMK_E_IO      anything else between host and card (no reader, no card,
 *                 sharing violation, pcscd gone, a command lost in flight:
 *                 whether the card executed it is unknown).
 *
 * A transport is used by one thread at a time (the worker that owns it).
 */
#ifndef SMK_TRANSPORT_H
#define SMK_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

struct smk_transport_ops {
	/* Send cmd[0..n) and append the complete response (data and SW1 SW2)
	 * to resp. Waits at most timeout_ms. */
	int (*transmit)(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp,
			unsigned timeout_ms, smk_err *e);
	/* Get a usable connection again: acknowledge a reset, reconnect after a
	 * timeout or removal. With reset != 0 the card is reset too, so that no
	 * state from before survives. */
	int (*reconnect)(void *impl, int reset, unsigned timeout_ms, smk_err *e);
	/* Reader name for messages; never NULL. */
	const char *(*name)(void *impl);
	/* Answer-to-reset as last seen, or NULL/0 when unknown. */
	const uint8_t *(*atr)(void *impl, size_t *len);
	void (*close)(void *impl);
	/* Let go of the card (disconnect resetting it) but stay usable: the
	 * next reconnect connects afresh. NULL: nothing to let go of. */
	void (*release)(void *impl);
};

typedef struct smk_transport {
	const struct smk_transport_ops *ops;
	void *impl;
} smk_transport;

/* Thin wrappers that check arguments and name the reader in errors. */
int transport_transmit(smk_transport *t, const uint8_t *cmd, size_t n, smk_buf *resp,
		       unsigned timeout_ms, smk_err *e);
int transport_reconnect(smk_transport *t, int reset, unsigned timeout_ms, smk_err *e);
const char *transport_name(const smk_transport *t);
const uint8_t *transport_atr(const smk_transport *t, size_t *len);
/* Give the card up for other PC/SC clients until the next reconnect. */
void transport_release(smk_transport *t);
/* Release the connection and free t (t may be NULL). */
void transport_close(smk_transport *t);

#endif
