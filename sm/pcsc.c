/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PC/SC transport over pcsc-lite.
 *
 * Every call that can block (establish context, list, connect, reconnect,
 * transmit, disconnect) runs on its own helper thread; the caller waits on a
 * condition variable with a CLOCK_MONOTONIC deadline. When the deadline
 * passes, the caller marks the call abandoned and walks away: from then on
 * the helper thread owns the call and the PC/SC context it was using, and
 * releases both (resetting the card) when pcsc-lite finally returns. The
 * transport itself is left without a connection and gets a fresh context on
 * the next reconnect. pcsc-lite serialises calls per context with a mutex, so
 * a context that is stuck in one call cannot be released from another
 * thread; handing it to the stuck thread is the only safe owner.
 */
#include "pcsc.h"

#include <PCSC/winscard.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One PC/SC context and, once connected, the card handle. */
struct pcsc_link {
	SCARDCONTEXT ctx;
	SCARDHANDLE card;
	DWORD proto;
	int have_ctx;
	int have_card;
};

enum pcsc_op {
	OP_LIST,      /* readers, on a context of its own */
	OP_CONNECT,   /* establish context, connect exclusively, read ATR */
	OP_RECONNECT, /* SCardReconnect on the existing handle, read ATR */
	OP_TRANSMIT,
	OP_RELEASE, /* disconnect (resetting the card) and release the context */
};

struct pcsc_call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int done;
	int abandoned; /* the caller gave up: the helper thread frees everything */
	enum pcsc_op op;
	struct pcsc_link *link;
	/* inputs */
	char *reader;
	DWORD disposition;
	unsigned wait_ms; /* connect: how long to wait for a card to come back */
	uint8_t *cmd;
	size_t cmd_len;
	/* outputs */
	LONG rv;
	const char *step; /* the PC/SC function that returned rv */
	uint8_t *rsp;
	DWORD rsp_len;
	uint8_t atr[MAX_ATR_SIZE];
	DWORD atr_len;
	char *names; /* multi-string from SCardListReaders */
	DWORD names_len;
};

struct pcsc_transport {
	char *reader;
	struct pcsc_link *link; /* NULL when not connected (e.g. after a timeout) */
	int need_reconnect;	/* reset or removal seen: pcsc-lite wants SCardReconnect */
	int settle;		/* a card just put back: give pcscd a moment first */
	unsigned sent;		/* APDUs answered since the link was made */
	uint8_t atr[MAX_ATR_SIZE];
	size_t atr_len;
};

/* Short, stable words for the PC/SC codes a user will meet; the numeric
 * code is always printed too. */
static const char *rv_text(LONG rv)
{
	switch (rv) {
	case SCARD_W_RESET_CARD:
		return "card was reset";
	case SCARD_W_REMOVED_CARD:
		return "card was removed";
	case SCARD_E_NO_SMARTCARD:
		return "no card in reader";
	case SCARD_W_UNRESPONSIVE_CARD:
		return "card does not answer to reset";
	case SCARD_W_UNPOWERED_CARD:
		return "card is not powered";
	case SCARD_E_SHARING_VIOLATION:
		return "card is in use by another PC/SC client";
	case SCARD_E_NO_SERVICE:
		return "pcscd is not running";
	case SCARD_E_UNKNOWN_READER:
		return "no such reader";
	case SCARD_E_READER_UNAVAILABLE:
		return "reader unavailable";
	case SCARD_E_NO_READERS_AVAILABLE:
		return "no readers";
	case SCARD_E_TIMEOUT:
		return "timeout";
	case SCARD_E_PROTO_MISMATCH:
		return "no common protocol (T=0/T=1)";
	case SCARD_E_INSUFFICIENT_BUFFER:
		return "response larger than the buffer";
	case SCARD_F_COMM_ERROR:
		return "communication error with pcscd";
	case SCARD_E_NOT_TRANSACTED:
		return "command not transacted";
	}
	return pcsc_stringify_error(rv);
}

/* Map a PC/SC result to a typed error. A card that vanishes or is reset
 * under an open connection takes our session with it (SMK_E_RESET); a card
 * missing when we connect is an I/O problem. */
static int rv_fail(smk_err *e, LONG rv, const char *reader, const char *step, int connected)
{
	enum smk_errc code = SMK_E_IO;

	switch (rv) {
	case SCARD_W_RESET_CARD:
	case SCARD_W_REMOVED_CARD:
		code = SMK_E_RESET;
		break;
	case SCARD_E_NO_SMARTCARD:
	/* pcsc-lite answers a handle whose card was pulled and put back (not
	 * powered yet, no protocol) with PROTO_MISMATCH: the card changed
	 * under us, reconnect as after a reset */
	case SCARD_E_PROTO_MISMATCH:
	/* pcscd was restarted: this context and handle are gone, a new
	 * connection finds the card again */
	case SCARD_E_NO_SERVICE:
	case SCARD_E_INVALID_HANDLE:
		code = connected ? SMK_E_RESET : SMK_E_IO;
		break;
	case SCARD_E_TIMEOUT:
		code = SMK_E_TIMEOUT;
		break;
	}
	if (reader == NULL)
		return smk_fail(e, code, "PC/SC: %s: %s (0x%08lX)", step, rv_text(rv),
				(unsigned long)rv);
	return smk_fail(e, code, "reader \"%s\": %s: %s (0x%08lX)", reader, step, rv_text(rv),
			(unsigned long)rv);
}

static void link_release(struct pcsc_link *l, DWORD disposition)
{
	if (l == NULL)
		return;
	if (l->have_card)
		(void)SCardDisconnect(l->card, disposition);
	if (l->have_ctx)
		(void)SCardReleaseContext(l->ctx);
	free(l);
}

static void call_free(struct pcsc_call *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c->reader);
	if (c->cmd) {
		OPENSSL_cleanse(c->cmd, c->cmd_len);
		free(c->cmd);
	}
	if (c->rsp) {
		OPENSSL_cleanse(c->rsp, MAX_BUFFER_SIZE_EXTENDED);
		free(c->rsp);
	}
	free(c->names);
	free(c);
}

static struct pcsc_call *call_new(enum pcsc_op op, struct pcsc_link *link)
{
	struct pcsc_call *c = calloc(1, sizeof(*c));
	pthread_condattr_t ca;

	if (c == NULL)
		return NULL;
	if (pthread_condattr_init(&ca) != 0) {
		free(c);
		return NULL;
	}
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_cond_init(&c->cv, &ca) != 0) {
		pthread_condattr_destroy(&ca);
		free(c);
		return NULL;
	}
	pthread_condattr_destroy(&ca);
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		pthread_cond_destroy(&c->cv);
		free(c);
		return NULL;
	}
	c->op = op;
	c->link = link;
	c->rv = SCARD_S_SUCCESS;
	return c;
}

static int read_atr(struct pcsc_call *c)
{
	char name[MAX_READERNAME];
	DWORD name_len = sizeof(name), state, proto;

	c->atr_len = sizeof(c->atr);
	c->step = "SCardStatus";
	c->rv = SCardStatus(c->link->card, name, &name_len, &state, &proto, c->atr, &c->atr_len);
	if (c->rv != SCARD_S_SUCCESS)
		c->atr_len = 0;
	return c->rv == SCARD_S_SUCCESS ? 0 : -1;
}

/* The PC/SC context of c's link; 0 when it failed (c->rv says why). */
static int establish(struct pcsc_call *c)
{
	c->step = "SCardEstablishContext";
	c->rv = SCardEstablishContext(SCARD_SCOPE_SYSTEM, NULL, NULL, &c->link->ctx);
	if (c->rv != SCARD_S_SUCCESS)
		return 0;
	c->link->have_ctx = 1;
	return 1;
}

static void op_list(struct pcsc_call *c)
{
	struct pcsc_link *l = c->link;

	if (!establish(c))
		return;
	c->step = "SCardListReaders";
	c->rv = SCardListReaders(l->ctx, NULL, NULL, &c->names_len);
	if (c->rv != SCARD_S_SUCCESS)
		return;
	c->names = malloc(c->names_len ? c->names_len : 1);
	if (c->names == NULL) {
		c->rv = SCARD_E_NO_MEMORY;
		return;
	}
	c->rv = SCardListReaders(l->ctx, NULL, c->names, &c->names_len);
}

static int card_absent(LONG rv)
{
	return rv == SCARD_E_NO_SMARTCARD || rv == SCARD_W_REMOVED_CARD ||
	       rv == SCARD_W_UNPOWERED_CARD || rv == SCARD_W_UNRESPONSIVE_CARD;
}

static void op_connect(struct pcsc_call *c)
{
	struct pcsc_link *l = c->link;
	struct timespec pause = {0, 100 * 1000000L};
	unsigned waited = 0;

	if (!establish(c))
		return;
	c->step = "SCardConnect";
	for (;;) {
		c->rv = SCardConnect(l->ctx, c->reader, SCARD_SHARE_EXCLUSIVE,
				     SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, &l->card, &l->proto);
		/* after a removal the reader may need a moment to see the card
		 * again (vpcd polls, a token re-enumerates) */
		if (!card_absent(c->rv) || waited >= c->wait_ms)
			break;
		nanosleep(&pause, NULL);
		waited += 100;
	}
	if (c->rv != SCARD_S_SUCCESS)
		return;
	l->have_card = 1;
	(void)read_atr(c);
}

static void op_reconnect(struct pcsc_call *c)
{
	struct pcsc_link *l = c->link;

	c->step = "SCardReconnect";
	c->rv = SCardReconnect(l->card, SCARD_SHARE_EXCLUSIVE,
			       SCARD_PROTOCOL_T0 | SCARD_PROTOCOL_T1, c->disposition, &l->proto);
	if (c->rv != SCARD_S_SUCCESS)
		return;
	(void)read_atr(c);
}

static void op_transmit(struct pcsc_call *c)
{
	struct pcsc_link *l = c->link;
	const SCARD_IO_REQUEST *pci = l->proto == SCARD_PROTOCOL_T0 ? SCARD_PCI_T0 : SCARD_PCI_T1;

	c->rsp_len = MAX_BUFFER_SIZE_EXTENDED;
	c->step = "SCardTransmit";
	c->rv = SCardTransmit(l->card, pci, c->cmd, (DWORD)c->cmd_len, NULL, c->rsp, &c->rsp_len);
}

static void *call_main(void *arg)
{
	struct pcsc_call *c = arg;
	int abandoned;

	switch (c->op) {
	case OP_LIST:
		op_list(c);
		break;
	case OP_CONNECT:
		op_connect(c);
		break;
	case OP_RECONNECT:
		op_reconnect(c);
		break;
	case OP_TRANSMIT:
		op_transmit(c);
		break;
	case OP_RELEASE:
		link_release(c->link, c->disposition);
		c->link = NULL;
		break;
	}
	pthread_mutex_lock(&c->mu);
	c->done = 1;
	abandoned = c->abandoned;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	if (abandoned) {
		/* nobody waits any more: leave no authenticated card behind */
		link_release(c->link, SCARD_RESET_CARD);
		call_free(c);
	}
	return NULL;
}

/* Run c on a helper thread and wait at most timeout_ms. Returns 0 when the
 * call finished (its own result is in c->rv), -1 with e filled when it did
 * not: then c and c->link belong to the helper thread and must not be
 * touched again. */
static int call_run(struct pcsc_call *c, unsigned timeout_ms, const char *reader, smk_err *e)
{
	struct timespec dl;
	pthread_t th;
	int rc = 0;

	if (pthread_create(&th, NULL, call_main, c) != 0) {
		link_release(c->link, SCARD_RESET_CARD);
		c->link = NULL;
		call_free(c);
		return smk_fail(e, SMK_E_IO, "reader \"%s\": cannot start a PC/SC helper thread",
				reader);
	}
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += timeout_ms / 1000;
	dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&c->mu);
	while (!c->done && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&c->cv, &c->mu, &dl);
	if (!c->done) {
		c->abandoned = 1;
		pthread_mutex_unlock(&c->mu);
		pthread_detach(th);
		return smk_fail(
		    e, SMK_E_TIMEOUT,
		    "reader \"%s\": no answer from pcscd within %u ms; connection dropped", reader,
		    timeout_ms);
	}
	pthread_mutex_unlock(&c->mu);
	pthread_join(th, NULL);
	return 0;
}

int pcsc_list_readers(char ***names, size_t *n, unsigned timeout_ms, smk_err *e)
{
	struct pcsc_link *l = calloc(1, sizeof(*l));
	struct pcsc_call *c = l ? call_new(OP_LIST, l) : NULL;
	char **out = NULL;
	size_t count = 0, i = 0, off;
	int ret = -1;

	*names = NULL;
	*n = 0;
	if (c == NULL) {
		free(l);
		return smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
	}
	if (call_run(c, timeout_ms, "(any)", e) < 0)
		return smk_context(e, "listing readers");
	if (c->rv == SCARD_E_NO_READERS_AVAILABLE) {
		ret = 0;
		out = calloc(1, sizeof(*out));
		if (out == NULL)
			ret = smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
		goto done;
	}
	if (c->rv != SCARD_S_SUCCESS) {
		rv_fail(e, c->rv, NULL, c->step, 0);
		smk_context(e, "listing readers");
		goto done;
	}
	/* a multi-string: names each NUL-terminated, an empty name ends it;
	 * do not trust pcsc-lite to have terminated the last one */
	if (c->names_len == 0 || c->names[c->names_len - 1] != '\0') {
		smk_fail(e, SMK_E_IO, "listing readers: reader list is not terminated");
		goto done;
	}
	for (off = 0; off < c->names_len && c->names[off] != '\0';
	     off += strlen(c->names + off) + 1)
		count++;
	out = calloc(count + 1, sizeof(*out));
	if (out == NULL) {
		smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
		goto done;
	}
	for (off = 0; i < count; off += strlen(c->names + off) + 1, i++) {
		out[i] = strdup(c->names + off);
		if (out[i] == NULL) {
			pcsc_free_names(out);
			out = NULL;
			smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
			goto done;
		}
	}
	*n = count;
	ret = 0;
done:
	link_release(c->link, SCARD_LEAVE_CARD);
	call_free(c);
	if (ret == 0)
		*names = out;
	return ret;
}

void pcsc_free_names(char **names)
{
	size_t i;

	if (names == NULL)
		return;
	for (i = 0; names[i]; i++)
		free(names[i]);
	free(names);
}

/* Drop the current link: disconnect resetting the card, release the context. */
static void drop_link(struct pcsc_transport *p, unsigned timeout_ms)
{
	struct pcsc_call *c;
	smk_err ignore;

	if (p->link == NULL)
		return;
	c = call_new(OP_RELEASE, p->link);
	if (c == NULL) {
		link_release(p->link, SCARD_RESET_CARD);
		p->link = NULL;
		return;
	}
	c->disposition = SCARD_RESET_CARD;
	p->link = NULL;
	if (call_run(c, timeout_ms, p->reader, &ignore) == 0)
		call_free(c);
}

/* The card answered the connect or reconnect c: a fresh start with its ATR. */
static int connected(struct pcsc_transport *p, struct pcsc_call *c)
{
	p->need_reconnect = 0;
	p->sent = 0;
	memcpy(p->atr, c->atr, c->atr_len);
	p->atr_len = c->atr_len;
	call_free(c);
	return 0;
}

/* wait_ms: how long a missing card may take to appear (0: fail at once). */
static int connect_new(struct pcsc_transport *p, unsigned timeout_ms, unsigned wait_ms, smk_err *e)
{
	struct pcsc_link *l = calloc(1, sizeof(*l));
	struct pcsc_call *c = l ? call_new(OP_CONNECT, l) : NULL;

	if (c == NULL || (c->reader = strdup(p->reader)) == NULL) {
		call_free(c);
		free(l);
		return smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
	}
	c->wait_ms = wait_ms;
	if (call_run(c, timeout_ms + wait_ms, p->reader, e) < 0)
		return -1;
	if (c->rv != SCARD_S_SUCCESS) {
		rv_fail(e, c->rv, p->reader, c->step, 0);
		link_release(l, SCARD_LEAVE_CARD);
		call_free(c);
		return -1;
	}
	p->link = l;
	return connected(p, c);
}

static int transmit_once(struct pcsc_transport *p, const uint8_t *cmd, size_t n, smk_buf *resp,
			 unsigned timeout_ms, smk_err *e)
{
	struct pcsc_call *c;
	int r;

	if (p->link == NULL || p->need_reconnect)
		return smk_fail(e, SMK_E_RESET, "reader \"%s\": not connected (reconnect first)",
				p->reader);
	if (n > MAX_BUFFER_SIZE_EXTENDED)
		return smk_fail(e, SMK_E_ARG, "reader \"%s\": command of %zu bytes is too long",
				p->reader, n);
	c = call_new(OP_TRANSMIT, p->link);
	if (c == NULL)
		return smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
	c->cmd = malloc(n);
	c->rsp = malloc(MAX_BUFFER_SIZE_EXTENDED);
	if (c->cmd == NULL || c->rsp == NULL) {
		call_free(c);
		return smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
	}
	memcpy(c->cmd, cmd, n);
	c->cmd_len = n;
	if (call_run(c, timeout_ms, p->reader, e) < 0) {
		p->link = NULL; /* now owned by the abandoned call */
		return -1;
	}
	if (c->rv != SCARD_S_SUCCESS) {
		LONG rv = c->rv;

		r = rv_fail(e, rv, p->reader, c->step, 1);
		if (e && e->code == SMK_E_RESET)
			p->need_reconnect = 1;
		if (rv == SCARD_E_PROTO_MISMATCH || rv == SCARD_E_NO_SERVICE ||
		    rv == SCARD_E_INVALID_HANDLE) {
			/* SCardReconnect on this handle may succeed and still
			 * leave no protocol, or the handle died with pcscd: the
			 * next reconnect connects afresh */
			p->settle = rv == SCARD_E_PROTO_MISMATCH;
			call_free(c);
			drop_link(p, timeout_ms);
			return r;
		}
	} else if (c->rsp_len < 2 || c->rsp_len > MAX_BUFFER_SIZE_EXTENDED) {
		r = smk_fail(e, SMK_E_IO, "reader \"%s\": answer of %lu bytes has no status word",
			     p->reader, (unsigned long)c->rsp_len);
	} else if (smk_buf_add(resp, c->rsp, c->rsp_len) < 0) {
		r = smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
	} else {
		r = 0;
	}
	call_free(c);
	return r;
}

static int pcsc_transmit(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp,
			 unsigned timeout_ms, smk_err *e)
{
	struct pcsc_transport *p = impl;
	struct timespec pause = {0, 500 * 1000000L};
	int tries;

	for (tries = 0;; tries++) {
		int fresh = p->sent == 0;

		if (transmit_once(p, cmd, n, resp, timeout_ms, e) == 0) {
			p->sent++;
			return 0;
		}
		/* PROTO_MISMATCH on a link that has carried nothing yet: a card
		 * inserted moments ago that pcscd has not powered. pcsc-lite
		 * refused before sending, and the card holds no state of ours,
		 * so connect again and send the same command */
		if (!fresh || !p->settle || tries >= 3)
			return -1;
		p->settle = 0;
		nanosleep(&pause, NULL);
		if (connect_new(p, timeout_ms, timeout_ms, e) < 0)
			return -1;
	}
}

static int pcsc_reconnect(void *impl, int reset, unsigned timeout_ms, smk_err *e)
{
	struct pcsc_transport *p = impl;
	struct pcsc_call *c;

	if (p->settle) {
		/* pcscd answers PROTO_MISMATCH until it has powered a card
		 * inserted moments ago; a connect before that fails the same */
		struct timespec pause = {0, 500 * 1000000L};

		p->settle = 0;
		nanosleep(&pause, NULL);
	}
	if (p->link != NULL) {
		c = call_new(OP_RECONNECT, p->link);
		if (c == NULL)
			return smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
		c->disposition = reset ? SCARD_RESET_CARD : SCARD_LEAVE_CARD;
		if (call_run(c, timeout_ms, p->reader, e) < 0) {
			p->link = NULL;
			return -1;
		}
		if (c->rv == SCARD_S_SUCCESS)
			return connected(p, c);
		/* removed and re-inserted, or the handle is gone: start afresh */
		call_free(c);
		drop_link(p, timeout_ms);
	}
	/* a card that was just pulled and put back gets the deadline to show up */
	return connect_new(p, timeout_ms, timeout_ms, e);
}

static const char *pcsc_name(void *impl)
{
	return ((struct pcsc_transport *)impl)->reader;
}

static const uint8_t *pcsc_atr(void *impl, size_t *len)
{
	struct pcsc_transport *p = impl;

	*len = p->atr_len;
	return p->atr_len ? p->atr : NULL;
}

/* Closing bounds the disconnect like any other call. */
#define PCSC_CLOSE_TIMEOUT_MS 5000

static void pcsc_close(void *impl)
{
	struct pcsc_transport *p = impl;

	drop_link(p, PCSC_CLOSE_TIMEOUT_MS);
	free(p->reader);
	free(p);
}

/* Disconnect resetting the card (what the card held for us is gone) and
 * release the context; the next reconnect connects afresh, exclusively. */
static void pcsc_release(void *impl)
{
	struct pcsc_transport *p = impl;

	drop_link(p, PCSC_CLOSE_TIMEOUT_MS);
	p->need_reconnect = 0;
	p->sent = 0;
}

static const struct smk_transport_ops pcsc_ops = {
    .transmit = pcsc_transmit,
    .reconnect = pcsc_reconnect,
    .name = pcsc_name,
    .atr = pcsc_atr,
    .close = pcsc_close,
    .release = pcsc_release,
};

int pcsc_open(const char *reader, unsigned timeout_ms, smk_transport **out, smk_err *e)
{
	struct pcsc_transport *p;
	smk_transport *t;

	*out = NULL;
	if (reader == NULL || reader[0] == '\0' || strlen(reader) >= MAX_READERNAME)
		return smk_fail(e, SMK_E_ARG, "PC/SC: reader name missing or too long");
	p = calloc(1, sizeof(*p));
	t = calloc(1, sizeof(*t));
	if (p == NULL || t == NULL || (p->reader = strdup(reader)) == NULL) {
		free(p);
		free(t);
		return smk_fail(e, SMK_E_NOMEM, "PC/SC: out of memory");
	}
	if (connect_new(p, timeout_ms, 0, e) < 0) {
		free(p->reader);
		free(p);
		free(t);
		return -1;
	}
	t->ops = &pcsc_ops;
	t->impl = p;
	*out = t;
	return 0;
}
