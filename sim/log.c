/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the card saw: counters per command, split by plain / secure
 * messaging, and an optional JSON-lines log of every APDU. The log holds
 * headers, lengths and status words only: command data may carry a PIN.
 */
#include "sim/sim_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/hex.h"

static const struct {
	uint8_t ins;
	const char *name;
} names[] = {
    {0xA4, "select"},	  {0x58, "enumerate"}, {0xB1, "read"},	       {0xD7, "update"},
    {0xE4, "delete"},	  {0x20, "verify"},    {0x24, "change"},       {0x2C, "reset-retry"},
    {0x50, "initialize"}, {0x84, "challenge"}, {0x52, "domain"},       {0x22, "mse"},
    {0x86, "ga"},	  {0x46, "gakp"},      {0x68, "sign"},	       {0x62, "decipher"},
    {0x72, "wrap"},	  {0x74, "unwrap"},    {0xC0, "get-response"},
};

const char *sim_cmd_name(uint8_t ins)
{
	static _Thread_local char other[8];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].ins == ins)
			return names[i].name;
	memcpy(other, "ins-", 4);
	smk_hex_to(other + 4, &ins, 1, SMK_HEX_LOWER);
	return other;
}

const sim_stats *sim_card_stats(const sim_card *c)
{
	return &c->stats;
}

void sim_card_stats_reset(sim_card *c)
{
	memset(&c->stats, 0, sizeof(c->stats));
}

void sim_card_set_log(sim_card *c, FILE *f)
{
	c->log = f;
}

void sim_log_apdu(sim_card *c, const apdu *a, bool sm, size_t in, size_t out, uint16_t sw,
		  const char *fault)
{
	struct timespec ts;
	struct tm tm;
	char when[32];

	if (c->log == NULL)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	fprintf(c->log,
		"{\"n\":%lu,\"time\":\"%s.%03ldZ\",\"cmd\":\"%s\",\"sm\":%s,"
		"\"header\":\"%02X%02X%02X%02X\",\"in\":%zu,\"out\":%zu",
		c->stats.apdus, when, ts.tv_nsec / 1000000, sim_cmd_name(a->ins),
		sm ? "true" : "false", a->cla, a->ins, a->p1, a->p2, in, out);
	if (out >= 2)
		fprintf(c->log, ",\"sw\":\"%04X\"", sw);
	if (fault)
		fprintf(c->log, ",\"fault\":\"%s\"", fault);
	fputs("}\n", c->log);
	fflush(c->log);
}

int sim_card_write_stats(const sim_card *c, FILE *f)
{
	const sim_stats *s = &c->stats;
	json_t *o = json_object(), *cmds = json_object();
	int r;

	if (o == NULL || cmds == NULL) {
		json_decref(o);
		json_decref(cmds);
		return -1;
	}
	json_object_set_new(o, "apdus", json_integer((json_int_t)s->apdus));
	json_object_set_new(o, "plain", json_integer((json_int_t)s->plain));
	json_object_set_new(o, "sm", json_integer((json_int_t)s->sm));
	json_object_set_new(o, "bytes_in", json_integer((json_int_t)s->bytes_in));
	json_object_set_new(o, "bytes_out", json_integer((json_int_t)s->bytes_out));
	json_object_set_new(o, "sm_errors", json_integer((json_int_t)s->sm_errors));
	json_object_set_new(o, "faults", json_integer((json_int_t)s->faults));
	for (unsigned i = 0; i < 256; i++) {
		json_t *one;

		if (s->plain_by_ins[i] == 0 && s->sm_by_ins[i] == 0)
			continue;
		one = json_object();
		json_object_set_new(one, "plain", json_integer((json_int_t)s->plain_by_ins[i]));
		json_object_set_new(one, "sm", json_integer((json_int_t)s->sm_by_ins[i]));
		json_object_set_new(cmds, sim_cmd_name((uint8_t)i), one);
	}
	json_object_set_new(o, "commands", cmds);
	r = json_dumpf(o, f, JSON_SORT_KEYS | JSON_COMPACT);
	fputc('\n', f);
	fflush(f);
	json_decref(o);
	return r;
}
