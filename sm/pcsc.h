/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PC/SC through pcsc-lite: list readers and open a card transport
 * (sm/transport.h) on one of them.
 *
 * pcsc-lite may block without limit in SCardConnect and SCardTransmit (a
 * stuck driver or card, a reader held in a transaction), and SCardCancel
 * only interrupts SCardGetStatusChange. So every blocking call runs on a
 * short-lived helper thread and the caller waits at most its deadline; a call
 * that misses it is abandoned together with its PC/SC context, which the
 * helper thread releases (resetting the card) whenever pcscd returns. See
 * docs/session.md.
 *
 * The card is opened with SCARD_SHARE_EXCLUSIVE for the whole life of the
 * transport, and reset when the transport is closed: no other PC/SC client
 * can put a plain APDU between our commands, nor inherit the PIN state we
 * leave behind.
 */
#ifndef SMK_PCSC_H
#define SMK_PCSC_H

#include <stddef.h>

#include "../common/err.h"
#include "transport.h"

/* Names of the readers pcscd knows (with or without a card). *names is a
 * NULL-terminated array; free it with pcsc_free_names. No reader at all is
 * not an error: *n = 0. */
int pcsc_list_readers(char ***names, size_t *n, unsigned timeout_ms, smk_err *e);
void pcsc_free_names(char **names);

/* Connect exclusively to the card in reader. Errors: SMK_E_IO naming the
 * reader and the cause (no card, used by another client, no such reader,
 * pcscd not running), SMK_E_TIMEOUT. */
int pcsc_open(const char *reader, unsigned timeout_ms, smk_transport **out, smk_err *e);

#endif
