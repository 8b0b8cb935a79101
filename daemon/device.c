/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A device's state and identity: up, down (with why and when to retry) or
 * busy; the DevAut chain its session validated, taken once and checked on
 * every later session; the session opened on its reader; and the retry of a
 * device that is down. Called on the device's worker, or at start before
 * the workers run.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/names.h"
#include "daemon.h"
#include "log.h"

/* clang-format off */
static const char *const state_names[] = {
	[DEVICE_UP] = "up", [DEVICE_DOWN] = "down", [DEVICE_BUSY] = "busy",
};
/* clang-format on */
_Static_assert(SMK_NELEM(state_names) == DEVICE_STATE_COUNT, "every device state has a name");

const char *device_state_name(enum device_state s)
{
	return smk_enum_name(state_names, SMK_NELEM(state_names), s, "down");
}

/* Errors that say the link or the SM channel is gone, not that the card
 * refused one command: the device is down until it answers again. */
bool device_lost(const smk_err *e)
{
	return e->code == SMK_E_IO || e->code == SMK_E_TIMEOUT || e->code == SMK_E_RESET ||
	       e->code == SMK_E_SM || e->code == SMK_E_TRUST;
}

void device_mark_down(device *d, const smk_err *e)
{
	engine *eng = d->eng;
	unsigned min = eng->cfg->retry_min_s ? eng->cfg->retry_min_s : 2;

	pthread_mutex_lock(&eng->lock);
	d->state = DEVICE_DOWN;
	snprintf(d->last_error, sizeof(d->last_error), "%s", e->msg);
	d->backoff_s = d->backoff_s ? d->backoff_s : min;
	d->retry_at = time(NULL) + d->backoff_s;
	pthread_mutex_unlock(&eng->lock);
	log_msg(LOG_WARNING, &(log_fields){.device = d->serial[0] ? d->serial : d->reader},
		"device down: %s; retrying in %u s", e->msg, d->backoff_s);
}

static void mark_up(device *d)
{
	engine *eng = d->eng;
	int was_down;

	pthread_mutex_lock(&eng->lock);
	was_down = d->state == DEVICE_DOWN;
	d->state = DEVICE_UP;
	d->last_error[0] = '\0';
	d->backoff_s = 0;
	pthread_mutex_unlock(&eng->lock);
	if (was_down)
		log_msg(LOG_INFO, &(log_fields){.device = d->serial}, "device up again");
}

/* Remember what the device is, from the chain the session validated. The
 * identity is written once, under eng->lock, before the device is first up;
 * from then on the loop reads it (placement, the intent, ListDevices) while
 * this thread runs card work, so a later session only checks it: rewriting
 * it in place (snprintf clears the first byte before it copies) would show
 * the loop an empty serial or CHR for a moment. */
int device_take_identity(device *d, smk_err *e)
{
	const devaut_chain *c = session_chain(d->session);
	engine *eng = d->eng;
	smk_buf chain = SMK_BUF_INIT;

	if (c == NULL)
		return smk_fail(e, SMK_E_ARG, "reader %s: session has no device chain", d->reader);
	if (d->serial[0]) {
		if (strcmp(d->serial, c->serial) != 0)
			return smk_fail(e, SMK_E_MISMATCH, "reader %s: now holds device %s, not %s",
					d->reader, c->serial, d->serial);
		if (strcmp(d->devaut_chr, c->device_chr) != 0 ||
		    d->chain_bytes.len != c->device_cert.len + c->dica_cert.len ||
		    memcmp(d->chain_bytes.data, c->device_cert.data, c->device_cert.len) != 0 ||
		    memcmp(d->chain_bytes.data + c->device_cert.len, c->dica_cert.data,
			   c->dica_cert.len) != 0)
			return smk_fail(e, SMK_E_MISMATCH,
					"reader %s: device %s now shows device certificate %s, "
					"not the %s it was taken up with",
					d->reader, d->serial, c->device_chr, d->devaut_chr);
		return 0;
	}
	if (smk_buf_add(&chain, c->device_cert.data, c->device_cert.len) < 0 ||
	    smk_buf_add(&chain, c->dica_cert.data, c->dica_cert.len) < 0) {
		smk_buf_free(&chain);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	pthread_mutex_lock(&eng->lock);
	snprintf(d->devaut_chr, sizeof(d->devaut_chr), "%s", c->device_chr);
	snprintf(d->serial, sizeof(d->serial), "%s", c->serial);
	smk_buf_free(&d->chain_bytes);
	d->chain_bytes = chain;
	pthread_mutex_unlock(&eng->lock);
	return 0;
}

int device_open_session(engine *eng, const char *reader, const smk_pin_source *pin,
			smk_session **out, smk_err *e)
{
	session_config sc;
	smk_transport *t;

	memset(&sc, 0, sizeof(sc));
	sc.trust = &eng->trust;
	sc.pin = pin;
	sc.now = eng->now;
	if (eng->cards.open(eng->cards.ctx, reader, &t, e) < 0)
		return -1;
	return session_new(t, &sc, out, e);
}

/* Down and idle: try to bring the session back (a reader that was empty at
 * start gets its transport first). A device that comes up while no archive
 * key is usable may be the one that holds it. */
void device_reopen(device *d)
{
	engine *eng = d->eng;
	smk_err e;
	unsigned max = eng->cfg->retry_max_s ? eng->cfg->retry_max_s : 300;
	unsigned min = eng->cfg->retry_min_s ? eng->cfg->retry_min_s : 2;
	unsigned prev;
	int no_archive, up;

	smk_err_clear(&e);
	if ((d->session || device_open_session(eng, d->reader, &d->pin, &d->session, &e) == 0) &&
	    session_open(d->session, &e) == 0 && device_take_identity(d, &e) == 0 &&
	    device_id_refresh(d, &e) == 0) {
		pthread_mutex_lock(&eng->lock);
		no_archive = eng->archive_dev == NULL;
		pthread_mutex_unlock(&eng->lock);
		if (!no_archive) {
			mark_up(d);
			op_post_call(eng, generate_device_up,
				     d); /* its open requests (generate.c) */
			return;
		}
		/* the device may hold or make the archive key. Until that is
		 * done it is busy and keeps showing why it was down; if it fails
		 * again (recover.c marks it down), it waits longer each time, as
		 * a reopen does */
		pthread_mutex_lock(&eng->lock);
		prev = d->backoff_s;
		d->state = DEVICE_BUSY;
		d->backoff_s = prev * 2 > max ? max : prev * 2 < min ? min : prev * 2;
		pthread_mutex_unlock(&eng->lock);
		recover_archive_late(d);
		pthread_mutex_lock(&eng->lock);
		up = d->state != DEVICE_DOWN;
		pthread_mutex_unlock(&eng->lock);
		if (up)
			mark_up(d);
		return;
	}
	pthread_mutex_lock(&eng->lock);
	snprintf(d->last_error, sizeof(d->last_error), "%s", e.msg);
	d->backoff_s = d->backoff_s * 2 > max ? max : d->backoff_s * 2;
	if (d->backoff_s == 0)
		d->backoff_s = eng->cfg->retry_min_s ? eng->cfg->retry_min_s : 2;
	d->retry_at = time(NULL) + d->backoff_s;
	pthread_mutex_unlock(&eng->lock);
	log_msg(LOG_DEBUG, &(log_fields){.device = d->reader}, "still down: %s", e.msg);
}

void device_release(device *d)
{
	engine *eng = d->eng;

	session_release(d->session);
	pthread_mutex_lock(&eng->lock);
	d->released = 1;
	snprintf(d->last_error, sizeof(d->last_error),
		 "released: card let go for other PC/SC clients after %u s without a job "
		 "(idle-release); taken back at the next job",
		 d->cfg->idle_release_s);
	pthread_mutex_unlock(&eng->lock);
	log_msg(LOG_INFO, &(log_fields){.device = d->serial[0] ? d->serial : d->reader},
		"card released after %u s without a job", d->cfg->idle_release_s);
}

/* One attempt: the connection, the handshake (which refuses another
 * device), the identity and the key ids. */
static int retake_once(device *d, smk_err *e)
{
	if (session_open(d->session, e) < 0 || device_take_identity(d, e) < 0 ||
	    device_id_refresh(d, e) < 0)
		return -1;
	return 0;
}

void device_retake(device *d)
{
	engine *eng = d->eng;
	unsigned wait_s = eng->cfg->idle_release_wait_s ? eng->cfg->idle_release_wait_s : 30;
	double start = worker_mono_s(), pause = 0.25;
	struct timespec ts;
	smk_err e, down;
	int tries = 0;

	for (;;) {
		smk_err_clear(&e);
		tries++;
		if (retake_once(d, &e) == 0) {
			pthread_mutex_lock(&eng->lock);
			d->released = 0;
			d->last_error[0] = '\0';
			pthread_mutex_unlock(&eng->lock);
			log_msg(LOG_INFO, &(log_fields){.device = d->serial},
				"card taken back after idle release (%d attempt%s)", tries,
				tries == 1 ? "" : "s");
			return;
		}
		/* someone else holds the card, or it is away for a moment: wait
		 * and try again; anything else (another device, a chain that
		 * fails) does not get better by waiting */
		if (e.code != SMK_E_IO && e.code != SMK_E_RESET && e.code != SMK_E_TIMEOUT)
			break;
		if (worker_mono_s() - start + pause > (double)wait_s)
			break;
		ts.tv_sec = (time_t)pause;
		ts.tv_nsec = (long)((pause - (double)ts.tv_sec) * 1e9);
		nanosleep(&ts, NULL);
		pause = pause * 2 > 2.0 ? 2.0 : pause * 2;
	}
	smk_err_clear(&down);
	smk_fail(&down, e.code,
		 "card not taken back after idle release (%d attempt%s in %.0f s): %s", tries,
		 tries == 1 ? "" : "s", worker_mono_s() - start, e.msg);
	pthread_mutex_lock(&eng->lock);
	d->released = 0;
	pthread_mutex_unlock(&eng->lock);
	device_mark_down(d, &down);
}

void device_free(device *d)
{
	if (d == NULL)
		return;
	session_free(d->session);
	pin_source_free(&d->pin);
	smk_buf_free(&d->chain_bytes);
	pthread_cond_destroy(&d->wake);
	free(d);
}
