/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey relay: one local PC/SC card joined to a remote vpcd reader
 * (docs/notary.md). The relay plays the virtual-card side of the vpcd
 * protocol (docs/design.md "vpcd framing", the side smkey-sim plays): every
 * message is a 2-byte big-endian length and that many bytes; a 1-byte
 * message from vpcd is a control code (00 power off, 01 power on, 02 reset,
 * 04 send the ATR), anything longer a command APDU whose response goes back
 * in one message. Power on, reset and power off map to PC/SC connect
 * (exclusive), reconnect with reset and disconnect with reset; APDUs pass
 * unchanged.
 *
 * The relay is untrusted by design: the notary's secure-messaging channel
 * ends in the card, so whatever the relay does it cannot make the notary
 * archive a wrong statement. It logs counts and status words, never APDU
 * data (command data carry the PIN and the SM cryptograms).
 */
#ifndef SMK_RELAY_H
#define SMK_RELAY_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/err.h"
#include "sm/transport.h"

#define RELAY_VPCD_POWER_OFF 0x00
#define RELAY_VPCD_POWER_ON 0x01
#define RELAY_VPCD_RESET 0x02
#define RELAY_VPCD_ATR 0x04
#define RELAY_FRAME_MAX 0xFFFF
/* How long a card that left vpcd's reader stays out before it is offered
 * again. pcscd asks vpcd whether a card is present every 400 ms; a card
 * back before a poll saw it gone leaves pcscd with two stories. When a
 * client's reset meanwhile found the reader empty, pcscd marks the reader
 * empty, while its poller, which never saw the card leave, never powers it
 * again: the reader stays dead until the card leaves once more. */
#define RELAY_CARD_OUT_MS 1000

/* ---- the vpcd stream, parsed as it arrives ---- */

typedef struct relay_parser {
	uint8_t hdr[2];
	size_t hdr_have;
	size_t len, have; /* the message being read */
	uint8_t msg[RELAY_FRAME_MAX];
} relay_parser;

void relay_parser_init(relay_parser *p);
/* Take bytes from in[0..n): *used of them are consumed. Returns 1 when a
 * complete message is in p->msg[0..p->len) (call again with the rest), 0
 * when more bytes are needed, -1 (SMK_E_FORMAT) on a message of length 0,
 * which vpcd never sends. */
int relay_parse(relay_parser *p, const uint8_t *in, size_t n, size_t *used, smk_err *e);
/* Append one message (its length, then the bytes) to out. */
int relay_frame(smk_buf *out, const uint8_t *p, size_t n, smk_err *e);

/* ---- the card side: a state machine over a card transport ---- */

/* Opens the local card exclusively (sm/pcsc.h pcsc_open, or a fake in
 * tests). */
typedef int (*relay_open_fn)(void *ctx, smk_transport **out, smk_err *e);

#define RELAY_SW_KINDS 16
typedef struct relay_stats {
	unsigned long apdus; /* answered in this power session */
	unsigned long total; /* answered since the relay started */
	unsigned power_ons, resets, atrs, unknown;
	size_t sw_kinds; /* distinct status words seen in this power session */
	uint16_t sw[RELAY_SW_KINDS];
	unsigned long sw_count[RELAY_SW_KINDS];
	unsigned long sw_other; /* beyond RELAY_SW_KINDS distinct ones */
} relay_stats;

/* A log line (no newline); never carries APDU data. */
typedef void (*relay_log_fn)(void *ctx, const char *line);

typedef struct relay {
	relay_open_fn open;
	void *open_ctx;
	relay_log_fn log;
	void *log_ctx;
	unsigned timeout_ms; /* one card command */
	smk_transport *card; /* non-NULL while the remote side has it powered */
	uint8_t atr[64];     /* as last seen, answered to an ATR request */
	size_t atr_len;
	relay_stats st;
} relay;

void relay_init(relay *r, relay_open_fn open, void *open_ctx, unsigned timeout_ms);
/* Answer one message from vpcd: the reply message (if the message has one)
 * is appended to out, framed. Returns 0, or -1 when the card cannot be
 * reached or lost its state under us (e says why): the caller then drops
 * the vpcd connection, which the remote side sees as the card removed, so
 * its session starts again from scratch. */
int relay_handle(relay *r, const uint8_t *msg, size_t n, smk_buf *out, smk_err *e);
/* Whether the card can be had: connect, keep its ATR, disconnect at once
 * (no-op while powered). */
int relay_probe(relay *r, smk_err *e);
/* Power off: disconnect the card (resetting it) and log the session's
 * counts. */
void relay_power_off(relay *r);
/* "12 APDUs, SW 9000 x11, 6982 x1" into out. */
void relay_stats_text(const relay_stats *st, char *out, size_t cap);

/* ---- the whole program: find the card, reach vpcd, serve, again ---- */

typedef struct relay_opts {
	const char *reader;  /* fnmatch(3) pattern on the PC/SC reader name */
	const char *connect; /* HOST:PORT of vpcd, or NULL */
	const char *via;     /* a command whose stdin/stdout reach vpcd, or NULL */
	unsigned card_timeout_ms;
	unsigned retry_min_ms, retry_max_ms; /* backoff between attempts */
	unsigned attempts;		     /* stop after this many connections; 0: never */
} relay_opts;

/* One line of a relay program's log on stderr: "PROG: ..." (counts and
 * status words only, never APDU data). */
void relay_say(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Split "HOST:PORT" or "[V6]:PORT"; errors name the option WHAT. */
int relay_parse_addr(const char *what, const char *s, char *host, size_t cap, unsigned *port,
		     smk_err *e);
/* relay_parse_addr for --connect. */
int relay_parse_hostport(const char *s, char *host, size_t cap, unsigned *port, smk_err *e);

/* Run until *stop is set (or attempts are used up). Returns 0 when
 * stopped, -1 on a setup error. Logs to stderr. */
int relay_run(const relay_opts *o, volatile sig_atomic_t *stop, smk_err *e);

#endif
