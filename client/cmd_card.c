/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey card: talk to SmartCard-HSMs over PC/SC directly, without the
 * daemon, through the same session code the daemon uses (so always under
 * secure messaging, after the device chain held). For bring-up, diagnosis
 * and the integration tests.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "common/hex.h"
#include "common/opts.h"
#include "common/show.h"
#include "sm/alg.h"
#include "sm/curves.h"
#include "sm/pcsc.h"
#include "sm/pin.h"
#include "sm/session.h"
#include "smkey.h"

#define CARD_TIMEOUT_MS 15000u

static const char card_usage_text[] =
    "usage: smkey card list\n"
    "       smkey card find                 readers holding a SmartCard-HSM\n"
    "       smkey card atr READER\n"
    "       smkey card info    -r READER -t TRUSTDIR [-p PINFILE | --pin-fd N]\n"
    "       smkey card genkey  -r READER -t TRUSTDIR -p PINFILE --type ec:CURVE|rsa:BITS\n"
    "                          --chr CHR [--car CAR] [--label LABEL] [--alg NAME,...]\n"
    "                          [--counter N] [--domain N] [--id N]\n"
    "                          [--req-out FILE] [--pem-out FILE] [--force]\n"
    "                          [--count N [--between SHELLCMD]]\n"
    "       smkey card prkd    -r READER -t TRUSTDIR -p PINFILE --id N --label LABEL\n"
    "                          [--alg NAME,...]   (re)write C4|id for the key in CE|id\n"
    "       smkey card sign    -r READER -t TRUSTDIR -p PINFILE --id N --alg NAME\n"
    "                          --in FILE --out FILE [--force]\n"
    "       smkey card delete  -r READER -t TRUSTDIR -p PINFILE --id N\n";

struct card_opts {
	const char *reader, *trust_dir, *pin_file;
	long pin_fd;
	const char *type, *chr, *car, *label, *algs, *req_out, *pem_out, *in, *out;
	const char *between;
	long counter, domain, id, count;
	long timeout_ms, keygen_timeout_ms; /* as unsigned: 0 the default */
	int force;			    /* --force: output files may replace existing ones */
};

static int fail(const char *what, const smk_err *e)
{
	fprintf(stderr, "smkey card %s: %s [%s]\n", what, smk_show(e->msg), smk_errc_name(e->code));
	return 1;
}

/* smkey card list: a line per reader, with what answers in it */
static void show_probed(const char *reader)
{
	smk_transport *t;
	hsm_fcp fcp;
	smk_err e;
	int r;

	/* an exclusive connection: the SELECT cannot disturb anyone */
	if (pcsc_open(reader, CARD_TIMEOUT_MS, &t, &e) < 0) {
		printf("%s\t-\t%s\n", smk_show(reader), smk_show(e.msg));
		return;
	}
	r = session_probe(t, CARD_TIMEOUT_MS, &fcp, &e);
	if (r == 1)
		printf("%s\tSmartCard-HSM\tversion %u.%u\n", smk_show(reader), fcp.version_major,
		       fcp.version_minor);
	else if (r == 0)
		printf("%s\t-\tnot a SmartCard-HSM\n", smk_show(reader));
	else
		printf("%s\t-\t%s\n", smk_show(reader), smk_show(e.msg));
	transport_close(t);
}

/* smkey card find: the reader's name alone */
static void show_name(const char *reader)
{
	printf("%s\n", smk_show(reader));
}

/* smkey card list and find: show each reader list names; how many */
static int show_readers(const char *what,
			int (*list)(char ***names, size_t *n, unsigned timeout_ms, smk_err *e),
			void (*show)(const char *reader), size_t *count)
{
	char **names;
	size_t i;
	smk_err e;

	if (list(&names, count, CARD_TIMEOUT_MS, &e) < 0)
		return fail(what, &e);
	for (i = 0; i < *count; i++)
		show(names[i]);
	pcsc_free_names(names);
	return 0;
}

static int card_list(void)
{
	size_t n;

	return show_readers("list", pcsc_list_readers, show_probed, &n);
}

static int card_find(void)
{
	size_t n;
	int rc = show_readers("find", session_find_hsms, show_name, &n);

	return rc == 0 && n == 0 ? 1 : rc;
}

static int card_atr(const char *reader)
{
	smk_transport *t;
	const uint8_t *atr;
	size_t len;
	smk_err e;

	if (pcsc_open(reader, CARD_TIMEOUT_MS, &t, &e) < 0)
		return fail("atr", &e);
	atr = transport_atr(t, &len);
	smk_hex_fprint(stdout, atr, len);
	printf("\n");
	transport_close(t);
	return 0;
}

/* The numbers: C notation (0x10 too), not negative. */
static int card_number(void *ctx, const smk_opt *opt, const char *arg)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(arg, &end, 0);
	if (errno || *end || v < 0) {
		fprintf(stderr, "smkey card: bad number \"%s\"\n", arg);
		return SMK_OPTS_SAID;
	}
	*(long *)smk_opt_field(ctx, opt) = v;
	return 0;
}

static const smk_opt card_options[] = {
    {"reader", 'r', .offset = offsetof(struct card_opts, reader)},
    {"trust", 't', .offset = offsetof(struct card_opts, trust_dir)},
    {"pin-file", 'p', .offset = offsetof(struct card_opts, pin_file)},
    {"pin-fd", .kind = SMK_OPT_OWN, .offset = offsetof(struct card_opts, pin_fd)},
    {"type", .offset = offsetof(struct card_opts, type)},
    {"chr", .offset = offsetof(struct card_opts, chr)},
    {"car", .offset = offsetof(struct card_opts, car)},
    {"label", .offset = offsetof(struct card_opts, label)},
    {"alg", .offset = offsetof(struct card_opts, algs)},
    {"counter", .kind = SMK_OPT_OWN, .offset = offsetof(struct card_opts, counter)},
    {"domain", .kind = SMK_OPT_OWN, .offset = offsetof(struct card_opts, domain)},
    {"id", .kind = SMK_OPT_OWN, .offset = offsetof(struct card_opts, id)},
    {"req-out", .offset = offsetof(struct card_opts, req_out)},
    {"pem-out", .offset = offsetof(struct card_opts, pem_out)},
    {"in", .offset = offsetof(struct card_opts, in)},
    {"out", .offset = offsetof(struct card_opts, out)},
    {"timeout", .kind = SMK_OPT_OWN, .offset = offsetof(struct card_opts, timeout_ms)},
    {"keygen-timeout", .kind = SMK_OPT_OWN,
     .offset = offsetof(struct card_opts, keygen_timeout_ms)},
    {"count", .kind = SMK_OPT_OWN, .offset = offsetof(struct card_opts, count)},
    {"between", .offset = offsetof(struct card_opts, between)},
    {"force", .kind = SMK_OPT_FLAG, .offset = offsetof(struct card_opts, force)},
    {.name = NULL},
};

static int parse_opts(int argc, char **argv, struct card_opts *o)
{
	const smk_opt_group opts = {card_options, o, card_number};
	int first = argc;

	memset(o, 0, sizeof(*o));
	o->pin_fd = -1;
	o->counter = -1;
	o->domain = -1;
	o->id = -1;
	o->count = 1;
	if (smk_opts_parse("smkey card", &opts, 1, argc, argv, &first) != 0)
		return -1;
	if (first != argc || o->reader == NULL || o->trust_dir == NULL) {
		fprintf(stderr, "smkey card: --reader and --trust are required\n");
		return -1;
	}
	return 0;
}

/* Everything a session needs, opened from the options. */
struct card_ctx {
	trust_store trust;
	smk_pin_source pin;
	bool have_pin;
	smk_session *s;
};

static int ctx_open(struct card_ctx *c, const struct card_opts *o, bool need_pin, smk_err *e)
{
	int pin_fd = (int)o->pin_fd;
	unsigned timeout_ms = (unsigned)o->timeout_ms;
	session_config cfg;
	smk_transport *t;

	memset(c, 0, sizeof(*c));
	if (trust_load_dir(&c->trust, o->trust_dir, e) < 0)
		return -1;
	if (o->pin_file && pin_source_file(&c->pin, o->pin_file, e) < 0)
		return -1;
	if (!o->pin_file && pin_fd >= 0 && pin_source_fd(&c->pin, pin_fd, e) < 0)
		return -1;
	c->have_pin = o->pin_file || pin_fd >= 0;
	if (need_pin && !c->have_pin)
		return smk_fail(e, SMK_E_ARG, "this command needs --pin-file or --pin-fd");
	memset(&cfg, 0, sizeof(cfg));
	cfg.trust = &c->trust;
	cfg.pin = c->have_pin ? &c->pin : NULL;
	cfg.apdu_timeout_ms = timeout_ms;
	cfg.keygen_timeout_ms = (unsigned)o->keygen_timeout_ms;
	if (pcsc_open(o->reader, timeout_ms ? timeout_ms : CARD_TIMEOUT_MS, &t, e) < 0)
		return -1;
	if (session_new(t, &cfg, &c->s, e) < 0)
		return -1;
	return session_open(c->s, e);
}

static void ctx_close(struct card_ctx *c)
{
	session_free(c->s);
	pin_source_free(&c->pin);
	trust_free(&c->trust);
}

/* Output files: new files only, never through a link (common/file.h);
 * checked before the card is touched, so a key is not made for nothing. */
static unsigned out_flags(const struct card_opts *o)
{
	return o->force ? SMK_OUT_FORCE : 0;
}

static int check_out(const struct card_opts *o, const char *path, smk_err *e)
{
	return path ? smk_outfile_check(path, out_flags(o), e) : 0;
}

static int write_out(const struct card_opts *o, const char *path, const void *p, size_t n,
		     smk_err *e)
{
	return smk_write_new_file(path, p, n, out_flags(o), e);
}

static int card_info(struct card_ctx *c, const struct card_opts *o, smk_err *e)
{
	const devaut_chain *ch;
	const hsm_fcp *fcp;
	hsm_pin_status st;
	uint8_t ids[255];
	size_t n, i;

	if (ctx_open(c, o, false, e) < 0)
		return -1;
	ch = session_chain(c->s);
	fcp = session_fcp(c->s);
	printf("reader:   %s\n", smk_show(session_reader(c->s)));
	printf("serial:   %s\n", ch->serial);
	printf("device:   %s\n", ch->device_chr);
	printf("dica:     %s\n", ch->dica_chr);
	printf("root:     %s\n", ch->root_chr);
	printf("applet:   %u.%u\n", fcp->version_major, fcp->version_minor);
	printf("sm:       chip authentication with DevAut (%s), AES-128\n", ch->curve->name);
	if (session_pin_status(c->s, &st, e) < 0)
		return -1;
	if (st.state == HSM_PIN_VERIFIED)
		printf("pin:      verified\n");
	else if (st.state == HSM_PIN_NOT_VERIFIED)
		printf("pin:      not verified, %u tries left\n", st.tries_left);
	else
		printf("pin:      %s\n", st.state == HSM_PIN_BLOCKED	 ? "blocked"
					 : st.state == HSM_PIN_TRANSPORT ? "transport PIN"
									 : "not initialised");
	if (st.state == HSM_PIN_VERIFIED) {
		if (session_list_keys(c->s, ids, &n, e) < 0)
			return -1;
		printf("keys:    ");
		for (i = 0; i < n; i++)
			printf(" %u", ids[i]);
		printf("\n");
	}
	return 0;
}

static int parse_keyspec(const struct card_opts *o, hsm_keyspec *k, smk_err *e)
{
	memset(k, 0, sizeof(*k));
	if (o->type == NULL || o->chr == NULL)
		return smk_fail(e, SMK_E_ARG, "--type and --chr are required");
	if (strncmp(o->type, "ec:", 3) == 0) {
		k->type = SMK_KEY_EC;
		k->curve = curve_by_name(o->type + 3);
		if (k->curve == NULL)
			return smk_fail(e, SMK_E_ARG, "unknown curve \"%s\"", o->type + 3);
	} else if (strncmp(o->type, "rsa:", 4) == 0) {
		k->type = SMK_KEY_RSA;
		k->rsa_bits = (unsigned)strtoul(o->type + 4, NULL, 10);
	} else {
		return smk_fail(e, SMK_E_ARG, "--type is ec:CURVE or rsa:BITS, not \"%s\"",
				o->type);
	}
	if (strlen(o->chr) > HSM_REF_MAX || (o->car && strlen(o->car) > HSM_REF_MAX))
		return smk_fail(e, SMK_E_ARG, "CHR and CAR have at most %d characters",
				HSM_REF_MAX);
	strcpy(k->chr, o->chr);
	if (o->car)
		strcpy(k->car, o->car);
	if (o->counter > 0xFFFFFFFFL)
		return smk_fail(e, SMK_E_ARG, "--counter too large");
	if (o->counter > 0)
		k->use_counter = (uint32_t)o->counter;
	if (o->domain > 255)
		return smk_fail(e, SMK_E_ARG, "--domain is 0..255");
	if (o->domain >= 0) {
		k->has_key_domain = true;
		k->key_domain = (uint8_t)o->domain;
	}
	if (o->algs) {
		char *list = strdup(o->algs), *save = NULL, *name;

		if (list == NULL)
			return smk_fail(e, SMK_E_NOMEM, "out of memory");
		for (name = strtok_r(list, ",", &save); name; name = strtok_r(NULL, ",", &save)) {
			const smk_alg *a = alg_by_name(name);

			if (a == NULL || k->alg_count == SMK_ALG_LIST_MAX) {
				smk_fail(e, SMK_E_ARG, "--alg: %s \"%s\"",
					 a ? "too many algorithms at" : "unknown algorithm", name);
				free(list);
				return -1;
			}
			k->algs[k->alg_count++] = a->id;
		}
		free(list);
	}
	return 0;
}

static void print_key(const session_key *k)
{
	printf("key:      %u\n", k->key_id);
	printf("chr:      %s\n", k->att.chr);
	printf("attested: by %s\n", k->att.outer_car);
	if (k->has_prkd) {
		char *id = smk_hex(k->prkd_id, sizeof(k->prkd_id));

		printf("prkd-id:  %s\n", id ? id : "?");
		free(id);
	}
}

/* --count N makes N keys in one session; --between runs a shell command
 * after each but the last (the integration tests use it to reset the card
 * between two generations). Outputs are written for the last key. */
static int card_genkey(struct card_ctx *c, const struct card_opts *o, smk_err *e)
{
	session_keygen g;
	session_key k;
	long i;
	int rc = -1;

	memset(&k, 0, sizeof(k));
	memset(&g, 0, sizeof(g));
	if (parse_keyspec(o, &g.spec, e) < 0)
		return -1;
	if (o->id > 255 || o->count < 1 || (o->count > 1 && o->id > 0))
		return smk_fail(e, SMK_E_ARG,
				"--id is 1..255, --count at least 1 and not with --id");
	g.key_id = o->id > 0 ? (uint8_t)o->id : 0;
	g.label = o->label;
	if (check_out(o, o->req_out, e) < 0 || check_out(o, o->pem_out, e) < 0 ||
	    ctx_open(c, o, true, e) < 0)
		return -1;
	for (i = 0; i < o->count; i++) {
		session_key_free(&k);
		if (session_generate(c->s, &g, &k, e) < 0)
			goto out;
		print_key(&k);
		fflush(stdout);
		if (o->between && i + 1 < o->count && system(o->between) != 0) {
			smk_fail(e, SMK_E_ARG, "--between command failed");
			goto out;
		}
	}
	printf("opens:    %u\n", session_opens(c->s));
	if (o->req_out && write_out(o, o->req_out, k.cvreq.data, k.cvreq.len, e) < 0)
		goto out;
	if (o->pem_out && write_out(o, o->pem_out, k.att.pem, strlen(k.att.pem), e) < 0)
		goto out;
	rc = 0;
out:
	session_key_free(&k);
	return rc;
}

/* Rewrite the PrKD of a key from what CE|id attests (daemon recovery does the
 * same); --alg sets the usage the description announces. */
static int card_prkd(struct card_ctx *c, const struct card_opts *o, smk_err *e)
{
	struct card_opts only_algs = *o;
	hsm_keyspec algs;
	chain_attested att;
	smk_buf req = SMK_BUF_INIT;
	uint8_t id[20];
	int rc = -1;

	memset(&att, 0, sizeof(att));
	memset(&algs, 0, sizeof(algs));
	if (o->id < 1 || o->id > 255 || o->label == NULL)
		return smk_fail(e, SMK_E_ARG, "prkd needs --id 1..255 and --label");
	/* parse_keyspec wants a type and CHR; only the algorithm list matters */
	only_algs.type = "rsa:2048";
	only_algs.chr = "-";
	only_algs.counter = -1;
	only_algs.domain = -1;
	if (parse_keyspec(&only_algs, &algs, e) < 0 || ctx_open(c, o, true, e) < 0 ||
	    session_read_cvreq(c->s, (uint8_t)o->id, &req, e) < 0 ||
	    session_check_cvreq(c->s, NULL, req.data, req.len, &att, e) < 0 ||
	    session_write_prkd(c->s, (uint8_t)o->id, o->label, att.key, algs.algs, algs.alg_count,
			       id, e) < 0)
		goto out;
	printf("key:      %u\nlabel:    %s\n", (unsigned)o->id, smk_show(o->label));
	rc = 0;
out:
	chain_attested_free(&att);
	smk_buf_free(&req);
	return rc;
}

static int card_sign(struct card_ctx *c, const struct card_opts *o, smk_err *e)
{
	smk_buf in = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	const smk_alg *alg = o->algs ? alg_by_name(o->algs) : NULL;
	int rc;

	if (alg == NULL || o->id < 1 || o->id > 255 || o->in == NULL || o->out == NULL)
		return smk_fail(e, SMK_E_ARG,
				"sign needs --id 1..255, a known --alg, --in and --out");
	rc = -1;
	if (check_out(o, o->out, e) == 0 && smk_read_stream(o->in, 0, SIZE_MAX, &in, e) == 0 &&
	    ctx_open(c, o, true, e) == 0 &&
	    session_sign(c->s, (uint8_t)o->id, alg->id, in.data, in.len, &sig, e) == 0 &&
	    write_out(o, o->out, sig.data, sig.len, e) == 0)
		rc = 0;
	smk_buf_free(&in);
	smk_buf_free(&sig);
	return rc;
}

static int card_delete(struct card_ctx *c, const struct card_opts *o, smk_err *e)
{
	if (o->id < 1 || o->id > 255)
		return smk_fail(e, SMK_E_ARG, "delete needs --id 1..255");
	if (ctx_open(c, o, true, e) < 0 || session_delete_key(c->s, (uint8_t)o->id, e) < 0)
		return -1;
	return 0;
}

/* The commands that open a session: each step checks its arguments, opens
 * the card (ctx_open) and fills e on failure; the card is closed here. */
static const struct {
	const char *name;
	int (*step)(struct card_ctx *c, const struct card_opts *o, smk_err *e);
} card_steps[] = {
    {"info", card_info},     {"genkey", card_genkey}, {"sign", card_sign},
    {"delete", card_delete}, {"prkd", card_prkd},     {NULL, NULL},
};

static int card_run(const char *name, const struct card_opts *o)
{
	struct card_ctx c;
	smk_err e;
	size_t i;
	int rc;

	for (i = 0; card_steps[i].name; i++)
		if (strcmp(name, card_steps[i].name) == 0)
			break;
	if (card_steps[i].name == NULL)
		return -1;
	memset(&c, 0, sizeof(c));
	rc = card_steps[i].step(&c, o, &e);
	if (rc < 0)
		fail(name, &e);
	ctx_close(&c);
	return rc < 0 ? 1 : 0;
}

int cmd_card(int argc, char **argv)
{
	struct card_opts o;
	int rc;

	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return card_list();
	if (argc == 2 && strcmp(argv[1], "find") == 0)
		return card_find();
	if (argc == 3 && strcmp(argv[1], "atr") == 0)
		return card_atr(argv[2]);
	if (argc >= 2 && parse_opts(argc - 1, argv + 1, &o) == 0 &&
	    (rc = card_run(argv[1], &o)) >= 0)
		return rc;
	fputs(card_usage_text, stderr);
	return 2;
}
