/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fault injection and the latency model. Faults are programmed as short
 * text specs (flags, control socket, or sim_fault_parse in tests) so that
 * every way of triggering them reads the same; docs/simulator.md has the
 * grammar.
 */
#include "sim/sim_int.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sm/alg.h"

static int parse_ulong(const char *s, int base, unsigned long max, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (*s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, base);
	if (errno || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_action(const char *s, sim_fault *f, smk_err *e)
{
	const char *eq = strchr(s, '=');
	size_t nlen = eq ? (size_t)(eq - s) : strlen(s);
	unsigned long v = 0;

	if (nlen == 5 && strncmp(s, "reset", 5) == 0 && !eq) {
		f->action = SIM_FAULT_RESET;
	} else if (nlen == 6 && strncmp(s, "remove", 6) == 0) {
		f->action = SIM_FAULT_REMOVE;
		f->arg = 2000;
		if (eq && parse_ulong(eq + 1, 10, 600000, &v) < 0)
			return smk_fail(e, SMK_E_ARG, "fault action \"%s\": bad milliseconds", s);
		if (eq)
			f->arg = (unsigned)v;
	} else if (nlen == 4 && strncmp(s, "late", 4) == 0 && eq) {
		if (parse_ulong(eq + 1, 10, 600000, &v) < 0)
			return smk_fail(e, SMK_E_ARG, "fault action \"%s\": bad milliseconds", s);
		f->action = SIM_FAULT_LATE;
		f->arg = (unsigned)v;
	} else if (nlen == 6 && strncmp(s, "badmac", 6) == 0 && !eq) {
		f->action = SIM_FAULT_BADMAC;
	} else if (nlen == 5 && strncmp(s, "plain", 5) == 0 && !eq) {
		f->action = SIM_FAULT_PLAIN;
	} else if ((nlen == 2 && strncmp(s, "sw", 2) == 0 && eq) ||
		   (nlen == 7 && strncmp(s, "plainsw", 7) == 0 && eq)) {
		if (strlen(eq + 1) != 4 || parse_ulong(eq + 1, 16, 0xFFFF, &v) < 0 || v < 0x6000)
			return smk_fail(e, SMK_E_ARG,
					"fault action \"%s\": SW must be 4 hex digits", s);
		f->action = nlen == 2 ? SIM_FAULT_SW : SIM_FAULT_PLAIN_SW;
		f->arg = (unsigned)v;
	} else {
		return smk_fail(
		    e, SMK_E_ARG,
		    "fault action \"%s\": expected reset, remove[=MS], late=MS, badmac, "
		    "plain, sw=HHHH or plainsw=HHHH",
		    s);
	}
	return 0;
}

int sim_fault_parse(const char *spec, unsigned long cur, sim_fault *f, smk_err *e)
{
	char buf[128], *parts[3], *save = NULL, *p;
	size_t n = 0;
	unsigned long v;

	memset(f, 0, sizeof(*f));
	f->times = 1;
	if (strlen(spec) >= sizeof(buf))
		return smk_fail(e, SMK_E_ARG, "fault \"%.20s...\": too long", spec);
	strcpy(buf, spec);
	for (p = strtok_r(buf, ":", &save); p && n < 3; p = strtok_r(NULL, ":", &save))
		parts[n++] = p;
	if (n < 2 || p != NULL)
		return smk_fail(e, SMK_E_ARG, "fault \"%s\": expected TRIGGER:ACTION[:times=N]",
				spec);
	if (strncmp(parts[0], "apdu=", 5) == 0) {
		const char *num = parts[0] + 5;
		bool rel = *num == '+';

		if (parse_ulong(num + rel, 10, 1000000000UL, &v) < 0 || v == 0)
			return smk_fail(e, SMK_E_ARG, "fault \"%s\": apdu=N needs N >= 1", spec);
		f->at_apdu = rel ? cur + v : v;
	} else if (strncmp(parts[0], "cmd=", 4) == 0) {
		const char *name = parts[0] + 4;
		unsigned i;

		for (i = 0; i < 256; i++)
			if (strcmp(sim_cmd_name((uint8_t)i), name) == 0)
				break;
		if (i == 256 || strlen(name) >= sizeof(f->cmd))
			return smk_fail(e, SMK_E_ARG, "fault \"%s\": unknown command \"%s\"", spec,
					name);
		strcpy(f->cmd, name);
	} else {
		return smk_fail(e, SMK_E_ARG, "fault \"%s\": trigger must be apdu=N or cmd=NAME",
				spec);
	}
	if (parse_action(parts[1], f, e) < 0)
		return smk_context(e, "fault \"%s\"", spec);
	if (n == 3) {
		if (strncmp(parts[2], "times=", 6) != 0 ||
		    parse_ulong(parts[2] + 6, 10, 1000000, &v) < 0)
			return smk_fail(e, SMK_E_ARG, "fault \"%s\": third part must be times=N",
					spec);
		f->times = (unsigned)v;
	}
	if (f->at_apdu && f->times != 1)
		return smk_fail(e, SMK_E_ARG, "fault \"%s\": apdu=N fires once", spec);
	return 0;
}

int sim_quirk_parse(const char *name, unsigned *flag, smk_err *e)
{
	if (strcmp(name, "car-from-device") == 0)
		*flag = SIM_QUIRK_CAR_FROM_DEVICE;
	else if (strcmp(name, "read-61xx") == 0)
		*flag = SIM_QUIRK_READ_61XX;
	else
		return smk_fail(e, SMK_E_ARG, "quirk \"%s\": expected car-from-device or read-61xx",
				name);
	return 0;
}

void sim_card_set_quirks(sim_card *c, unsigned quirks)
{
	c->quirks = quirks;
	smk_buf_reset(&c->get_response);
}

int sim_card_add_fault(sim_card *c, const sim_fault *f, smk_err *e)
{
	if (c->n_faults >= SIM_MAX_FAULTS)
		return smk_fail(e, SMK_E_ARG, "faults: at most %d pending", SIM_MAX_FAULTS);
	c->faults[c->n_faults++] = *f;
	return 0;
}

void sim_card_clear_faults(sim_card *c)
{
	c->n_faults = 0;
}

unsigned sim_card_removed_ms(const sim_card *c)
{
	return c->removed_ms;
}

/* The fault for this APDU, if any; counts it down. The returned pointer is
 * valid until the next call. */
const sim_fault *sim_fault_match(sim_card *c, uint8_t ins)
{
	static _Thread_local sim_fault fired;
	size_t i;

	for (i = 0; i < c->n_faults; i++) {
		sim_fault *f = &c->faults[i];

		if (f->at_apdu ? f->at_apdu != c->stats.apdus
			       : strcmp(f->cmd, sim_cmd_name(ins)) != 0)
			continue;
		fired = *f;
		if (f->times == 1 || f->at_apdu) {
			memmove(f, f + 1, (c->n_faults - i - 1) * sizeof(*f));
			c->n_faults--;
		} else if (f->times > 1) {
			f->times--;
		}
		return &fired;
	}
	return NULL;
}

/* A rough model of a Nitrokey HSM 2 on a USB CCID link; estimates, not
 * measurements (docs/simulator.md). */
static const sim_latency genuine = {
    .apdu_ms = 10,
    .byte_us = 40,
    .sign_ms = 80,
    .ec_ms = {350, 600, 900},
    .rsa_ms = {1500, 3000, 6000, 20000, 45000},
};

int sim_latency_parse(const char *spec, sim_latency *l, smk_err *e)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
	    {"apdu", offsetof(sim_latency, apdu_ms)},
	    {"byte_us", offsetof(sim_latency, byte_us)},
	    {"sign", offsetof(sim_latency, sign_ms)},
	    {"ec256", offsetof(sim_latency, ec_ms[0])},
	    {"ec384", offsetof(sim_latency, ec_ms[1])},
	    {"ec521", offsetof(sim_latency, ec_ms[2])},
	    {"rsa1024", offsetof(sim_latency, rsa_ms[0])},
	    {"rsa1536", offsetof(sim_latency, rsa_ms[1])},
	    {"rsa2048", offsetof(sim_latency, rsa_ms[2])},
	    {"rsa3072", offsetof(sim_latency, rsa_ms[3])},
	    {"rsa4096", offsetof(sim_latency, rsa_ms[4])},
	};
	char buf[256], *save = NULL, *p;

	if (strcmp(spec, "off") == 0) {
		memset(l, 0, sizeof(*l));
		return 0;
	}
	if (strcmp(spec, "genuine") == 0) {
		*l = genuine;
		return 0;
	}
	if (strlen(spec) >= sizeof(buf))
		return smk_fail(e, SMK_E_ARG, "latency: spec too long");
	strcpy(buf, spec);
	for (p = strtok_r(buf, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(p, '=');
		unsigned long v;
		size_t i;

		if (eq == NULL)
			return smk_fail(e, SMK_E_ARG, "latency \"%s\": expected NAME=VALUE", p);
		*eq = '\0';
		for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (strcmp(fields[i].name, p) == 0)
				break;
		if (i == sizeof(fields) / sizeof(fields[0]))
			return smk_fail(e, SMK_E_ARG, "latency: unknown name \"%s\"", p);
		if (parse_ulong(eq + 1, 10, 600000, &v) < 0)
			return smk_fail(e, SMK_E_ARG, "latency %s: bad value \"%s\"", p, eq + 1);
		*(unsigned *)((char *)l + fields[i].off) = (unsigned)v;
	}
	return 0;
}

void sim_card_set_latency(sim_card *c, const sim_latency *l)
{
	c->latency = *l;
}

unsigned sim_latency_keygen_ms(const sim_card *c, int type, unsigned bits)
{
	if (type == SMK_KEY_EC)
		return c->latency.ec_ms[bits <= 256 ? 0 : bits <= 384 ? 1 : 2];
	switch (bits) {
	case 1024:
		return c->latency.rsa_ms[0];
	case 1536:
		return c->latency.rsa_ms[1];
	case 2048:
		return c->latency.rsa_ms[2];
	case 3072:
		return c->latency.rsa_ms[3];
	default:
		return c->latency.rsa_ms[4];
	}
}

/* Sleep until the modelled time for this APDU has passed since start; time
 * spent computing counts towards it. */
void sim_latency_wait(sim_card *c, const struct timespec *start, size_t bytes)
{
	struct timespec now, until;
	unsigned long long us;

	us = (unsigned long long)c->latency.apdu_ms * 1000 +
	     (unsigned long long)c->latency.byte_us * bytes +
	     (unsigned long long)c->extra_ms * 1000;
	if (us == 0)
		return;
	until.tv_sec = start->tv_sec + (time_t)(us / 1000000);
	until.tv_nsec = start->tv_nsec + (long)(us % 1000000) * 1000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > until.tv_sec ||
	    (now.tv_sec == until.tv_sec && now.tv_nsec >= until.tv_nsec))
		return;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR)
		;
}
