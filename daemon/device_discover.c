/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Finding the devices at start: the readers PC/SC (or a test's card source)
 * lists, matched against the config's device entries (reader pattern,
 * serial), each opened and taken up, or watched as down.
 */
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../sm/pcsc.h"
#include "daemon.h"
#include "log.h"

#define CARD_OPEN_TIMEOUT_MS 10000u

/* ---- finding the devices ---- */

static int pcsc_list(void *ctx, char ***names, size_t *n, smk_err *e)
{
	(void)ctx;
	return pcsc_list_readers(names, n, CARD_OPEN_TIMEOUT_MS, e);
}

static int pcsc_connect(void *ctx, const char *reader, smk_transport **t, smk_err *e)
{
	(void)ctx;
	return pcsc_open(reader, CARD_OPEN_TIMEOUT_MS, t, e);
}

const engine_cards engine_pcsc_cards = {pcsc_list, pcsc_connect, NULL};

static int reader_matches(const config_device *c, const char *reader)
{
	return c->reader == NULL || fnmatch(c->reader, reader, 0) == 0;
}

static int serial_matches(const config_device *c, const devaut_chain *chain)
{
	return c->serial == NULL || strcmp(c->serial, chain->serial) == 0 ||
	       strcmp(c->serial, chain->device_chr) == 0;
}

/* Which config entry (if any) describes the card in reader. A serial in the
 * config needs the validated chain to compare with, so such a reader is
 * probed first with a session that never sends a PIN: a PIN goes only to the
 * device it was configured for. */
static const config_device *match_reader(engine *eng, const char *reader, smk_err *e)
{
	const config *cfg = eng->cfg;
	const config_device *first = NULL;
	smk_session *probe = NULL;
	const devaut_chain *chain;
	int need_serial = 0;
	size_t i;

	for (i = 0; i < cfg->device_count; i++) {
		if (!reader_matches(&cfg->devices[i], reader))
			continue;
		if (first == NULL)
			first = &cfg->devices[i];
		if (cfg->devices[i].serial)
			need_serial = 1;
	}
	if (first == NULL || !need_serial)
		return first;
	if (device_open_session(eng, reader, NULL, &probe, e) < 0 || session_open(probe, e) < 0) {
		session_free(probe);
		return NULL;
	}
	chain = session_chain(probe);
	for (i = 0; i < cfg->device_count; i++)
		if (reader_matches(&cfg->devices[i], reader) &&
		    serial_matches(&cfg->devices[i], chain))
			break;
	if (i == cfg->device_count)
		smk_fail(e, SMK_E_MISMATCH, "device %s is not listed in %s", chain->serial,
			 cfg->file);
	session_free(probe);
	return i < cfg->device_count ? &cfg->devices[i] : NULL;
}

static int add_device(engine *eng, const char *reader, const config_device *cfgd, smk_err *e)
{
	char pin_path[4096];
	device *d, **grown;
	smk_err oe;
	size_t i;

	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	d->eng = eng;
	d->cfg = cfgd;
	snprintf(d->reader, sizeof(d->reader), "%s", reader);
	pthread_cond_init(&d->wake, NULL);
	TAILQ_INIT(&d->tasks);
	STAILQ_INIT(&d->uncovered);
	smk_buf_init(&d->chain_bytes);
	if (config_pin_path(cfgd, pin_path, sizeof(pin_path), e) < 0 ||
	    pin_source_file(&d->pin, pin_path, e) < 0) {
		smk_context(e, "reader %s (%s:%u)", reader, eng->cfg->file, cfgd->line);
		device_free(d);
		return -1;
	}
	smk_err_clear(&oe);
	if (device_open_session(eng, reader, &d->pin, &d->session, &oe) < 0) {
		/* no card in the reader (SMK_E_IO): watch it like a device that
		 * is down, so a card put in later (the archive key's, say) is
		 * taken up by the retry; anything else leaves the reader unused */
		if (oe.code != SMK_E_IO) {
			*e = oe;
			device_free(d);
			return -1;
		}
		session_free(d->session);
		d->session = NULL;
	}
	if (d->session == NULL) {
		d->state = DEVICE_DOWN;
		snprintf(d->last_error, sizeof(d->last_error), "%s", oe.msg);
		d->backoff_s = eng->cfg->retry_min_s;
		d->retry_at = time(NULL) + d->backoff_s;
		log_msg(LOG_INFO, &(log_fields){.device = reader},
			"reader empty at start, watched: %s", oe.msg);
	} else if (session_open(d->session, &oe) < 0 || device_take_identity(d, &oe) < 0 ||
		   device_id_refresh(d, &oe) < 0) {
		d->state = DEVICE_DOWN;
		snprintf(d->last_error, sizeof(d->last_error), "%s", oe.msg);
		d->backoff_s = eng->cfg->retry_min_s;
		d->retry_at = time(NULL) + d->backoff_s;
		log_msg(LOG_WARNING, &(log_fields){.device = reader}, "device down at start: %s",
			oe.msg);
	} else {
		for (i = 0; i < eng->device_count; i++) {
			if (strcmp(eng->devices[i]->serial, d->serial) == 0) {
				smk_fail(e, SMK_E_MISMATCH, "device %s is in readers %s and %s",
					 d->serial, eng->devices[i]->reader, reader);
				device_free(d);
				return -1;
			}
		}
		d->state = DEVICE_UP;
		log_msg(LOG_INFO, &(log_fields){.device = d->serial}, "device %s up in reader %s",
			d->devaut_chr, reader);
	}
	grown = realloc(eng->devices, (eng->device_count + 1) * sizeof(*grown));
	if (grown == NULL) {
		device_free(d);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	eng->devices = grown;
	d->index = eng->device_count;
	eng->devices[eng->device_count++] = d;
	return 0;
}

int device_discover(engine *eng, smk_err *e)
{
	const config_device *cfgd;
	char **names = NULL;
	size_t n = 0, i, up;
	smk_err re;

	if (eng->cards.list(eng->cards.ctx, &names, &n, e) < 0)
		return smk_context(e, "listing card readers");
	for (i = 0; i < n; i++) {
		smk_err_clear(&re);
		cfgd = match_reader(eng, names[i], &re);
		if (cfgd == NULL) {
			if (re.msg[0])
				log_msg(LOG_INFO, &(log_fields){.device = names[i]},
					"reader not used: %s", re.msg);
			continue;
		}
		/* an empty reader is normal; anything else is worth a look */
		if (add_device(eng, names[i], cfgd, &re) < 0)
			log_msg(re.code == SMK_E_IO ? LOG_INFO : LOG_ERR,
				&(log_fields){.device = names[i]}, "reader not used: %s", re.msg);
	}
	pcsc_free_names(names);
	for (i = 0, up = 0; i < eng->device_count; i++)
		up += eng->devices[i]->state != DEVICE_DOWN;
	if (up == 0)
		log_warn("no HSM up in %zu reader(s); Generate answers DeviceUnavailable until "
			 "one comes up",
			 n);
	return 0;
}
