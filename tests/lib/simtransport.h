/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A card transport onto the simulator in-process (sim/card.h), for unit
 * tests without pcscd. It behaves like sm/pcsc.c where the session can tell:
 * a card reset or removal is reported as SMK_E_RESET and the transport then
 * refuses to transmit until it is reconnected; an answer later than the
 * deadline is dropped with SMK_E_TIMEOUT.
 */
#ifndef SMK_TEST_SIMTRANSPORT_H
#define SMK_TEST_SIMTRANSPORT_H

#include "sim/card.h"
#include "sm/transport.h"

/* The card stays the caller's and must outlive the transport. */
int simtransport_new(sim_card *card, const char *name, smk_transport **out, smk_err *e);

/* Reset the card behind the session's back, as another party or the reader
 * would: the next transmit reports the reset (PC/SC SCARD_W_RESET_CARD)
 * without delivering the command. */
void simtransport_reset_card(smk_transport *t);

/* Put another card in the reader: the next transmit reports a removal. */
void simtransport_set_card(smk_transport *t, sim_card *card);

/* Reconnects so far, and how many of them reset the card. */
unsigned simtransport_reconnects(const smk_transport *t);

#endif
