/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The two methods smkeyd-witness calls (docs/varlink.md): AddCosignatures
 * hands in what a witness answered, ReportWitnessPush records a push that
 * brought no cosignature. smkeyd never talks to a witness itself (it has no
 * network); it only checks and keeps what it is given: a cosignature is
 * stored when it verifies against a configured witness key over the stored
 * checkpoint of that size, and every outcome is kept for `smkey audit`.
 *
 * Who may call them: root, the config's admin-groups, and the uid of the
 * config's witness-user (the pusher's own user, which may do nothing else).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../archive/witness.h"
#include "../common/show.h"
#include "cardop.h"
#include "daemon.h"
#include "log.h"
#include "varlink_errors.h"

static int allowed(engine *eng, const engine_peer *peer, const char *what, engine_error *err)
{
	char why[300];

	if (cardop_is_admin(eng, peer) ||
	    (eng->cfg->witness_user && peer->uid == (uid_t)eng->cfg->witness_uid))
		return 0;
	snprintf(why, sizeof(why),
		 "%s is for root, the config's admin-groups and its witness-user; uid %u is none "
		 "of them",
		 what, (unsigned)peer->uid);
	log_msg(LOG_NOTICE, &(log_fields){.outcome = "denied"}, "uid %u pid %d: %s",
		(unsigned)peer->uid, (int)peer->pid, why);
	return engine_fail(err, SMK_VERR_POLICY_DENIED,
			   engine_param_str("policy", "", "reason", why), "%s", why);
}

static int invalid(engine_error *err, const char *param, const char *why)
{
	return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
			   engine_param_str("parameter", param, "reason", why), "%s: %s", param,
			   why);
}

int witness_add_cosignatures(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			     engine_error *err)
{
	const config *cfg = eng->cfg;
	json_t *sigs = json_object_get(params, "signatures"), *v, *rejected;
	const char *lines[COSIG_KEYS_MAX * 2];
	archive_cosig_outcome out[COSIG_KEYS_MAX * 2];
	cosig_key keys[COSIG_KEYS_MAX];
	uint64_t size = (uint64_t)json_integer_value(json_object_get(params, "size"));
	size_t i, n = json_array_size(sigs), stored;
	smk_err e;
	int rc;

	memset(err, 0, sizeof(*err));
	if (allowed(eng, peer, "AddCosignatures", err) < 0)
		return -1;
	if (n > COSIG_KEYS_MAX * 2)
		return invalid(err, "signatures", "more signature lines than witnesses can give");
	json_array_foreach(sigs, i, v) lines[i] = json_string_value(v);
	for (i = 0; i < cfg->witness_count; i++)
		keys[i] = cfg->witnesses[i].key;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_add_cosignatures(eng->arc, size, keys, cfg->witness_count, lines, n,
				      (int64_t)time(NULL), out, &stored, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		if (e.code == SMK_E_ARG)
			return invalid(err, "size", e.msg);
		return engine_fail_archive(err, &e);
	}
	rejected = json_array();
	for (i = 0; i < n; i++) {
		if (out[i].stored)
			continue;
		log_msg(LOG_WARNING, &(log_fields){.outcome = "bad-cosignature"},
			"checkpoint %" PRIu64 ": cosignature refused: %s", size,
			smk_show(out[i].why));
		json_array_append_new(rejected, json_string(out[i].why));
	}
	if (stored)
		log_msg(LOG_INFO, &(log_fields){.outcome = "cosigned"},
			"checkpoint %" PRIu64 ": %zu cosignature(s) verified and stored", size,
			stored);
	*reply = json_pack("{s:I, s:o}", "stored", (json_int_t)stored, "rejected", rejected);
	return 0;
}

int witness_report_push(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			engine_error *err)
{
	const config *cfg = eng->cfg;
	const char *witness = json_string_value(json_object_get(params, "witness"));
	const char *outcome = json_string_value(json_object_get(params, "outcome"));
	json_t *ws = json_object_get(params, "witness_size");
	archive_witness_event ev;
	size_t i;
	smk_err e;
	int rc, known = 0;

	memset(err, 0, sizeof(*err));
	if (allowed(eng, peer, "ReportWitnessPush", err) < 0)
		return -1;
	for (i = 0; i < cfg->witness_count; i++)
		if (strcmp(cfg->witnesses[i].key.name, witness) == 0)
			known = 1;
	if (!known)
		return invalid(err, "witness", "is not a witness in the configuration");
	/* cosigned and bad-cosignature are what smkeyd itself found in
	 * AddCosignatures: a pusher cannot claim them */
	if (!archive_witness_outcome_valid(outcome) || strcmp(outcome, "cosigned") == 0 ||
	    strcmp(outcome, "bad-cosignature") == 0)
		return invalid(err, "outcome",
			       "must be unreachable, conflict, inconsistent or rejected");
	memset(&ev, 0, sizeof(ev));
	ev.time = (int64_t)time(NULL);
	snprintf(ev.witness, sizeof(ev.witness), "%s", witness);
	ev.size = (uint64_t)json_integer_value(json_object_get(params, "size"));
	ev.outcome = outcome;
	ev.witness_size = ws ? (int64_t)json_integer_value(ws) : -1;
	snprintf(ev.detail, sizeof(ev.detail), "%s",
		 json_string_value(json_object_get(params, "detail")));
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_witness_record(eng->arc, &ev, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0)
		return engine_fail_archive(err, &e);
	log_msg(strcmp(outcome, "inconsistent") == 0 ? LOG_ERR : LOG_WARNING,
		&(log_fields){.outcome = outcome}, "witness %s, checkpoint %" PRIu64 ": %s: %s",
		smk_show(witness), ev.size, outcome, smk_show(ev.detail));
	*reply = json_object();
	return 0;
}
