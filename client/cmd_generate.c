/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey generate --policy NAME [--label L] [--device SERIAL] [-o DIR] [--json]
 *
 * Asks smkeyd for a key under a policy and writes what a release job needs
 * into DIR: LABEL.pub.pem, LABEL.cvreq (the device-signed CV request, binary)
 * and LABEL.bundle.json (what `smkey verify` checks). Files are never
 * overwritten: the key exists once the daemon answers, and its evidence
 * must not silently replace another key's.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/show.h"
#include "common/file.h"
#include "cmdline.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey generate --policy NAME [--label L] [--device SERIAL] [-o DIR]"
		   " [--json] [--socket PATH]\n"
		   "  generate a key in an HSM under the policy NAME; writes LABEL.pub.pem,\n"
		   "  LABEL.cvreq and LABEL.bundle.json into DIR (default: .)\n");
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A label is a file name here only if it is a boring one. */
static int safe_name(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '.' || s[0] == '-' || strlen(s) > 64)
		return 0;
	for (i = 0; s[i]; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return 0;
	return 1;
}

/* A new file, never replacing one: the key exists once the daemon answers,
 * and its evidence must not silently replace another key's (so there is no
 * --force here). */
static int write_new(const char *path, const void *p, size_t n)
{
	smk_err e;

	if (smk_write_new_file(path, p, n, 0, &e) < 0) {
		fprintf(stderr, "smkey generate: %s\n", e.msg);
		return -1;
	}
	return 0;
}

/* base64 (cvreq in the reply) to the request's bytes */
static unsigned char *unbase64(const char *s, int *len)
{
	EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
	size_t n = strlen(s);
	unsigned char *out = malloc(n / 4 * 3 + 4);
	int l1 = 0, l2 = 0;

	if (ctx == NULL || out == NULL || n > INT32_MAX) {
		EVP_ENCODE_CTX_free(ctx);
		free(out);
		return NULL;
	}
	EVP_DecodeInit(ctx);
	if (EVP_DecodeUpdate(ctx, out, &l1, (const unsigned char *)s, (int)n) < 0 ||
	    EVP_DecodeFinal(ctx, out + l1, &l2) < 0 || l1 + l2 == 0) {
		EVP_ENCODE_CTX_free(ctx);
		free(out);
		return NULL;
	}
	EVP_ENCODE_CTX_free(ctx);
	*len = l1 + l2;
	return out;
}

struct outputs {
	char pem[4096], cvreq[4096], bundle[4096];
};

static int write_outputs(const char *dir, json_t *p, struct outputs *o)
{
	const char *label = json_string_value(json_object_get(p, "label"));
	const char *pem = json_string_value(json_object_get(p, "public_key_pem"));
	const char *cvreq = json_string_value(json_object_get(p, "cvreq"));
	const char *bundle = json_string_value(json_object_get(p, "bundle"));
	const char *rid = json_string_value(json_object_get(p, "request_id"));
	const char *base = safe_name(label) ? label : safe_name(rid) ? rid : NULL;
	unsigned char *der;
	int der_len = 0, rc;

	if (base == NULL || pem == NULL || cvreq == NULL || bundle == NULL) {
		fprintf(stderr, "smkey generate: the reply lacks %s\n",
			base == NULL ? "a usable label or request id"
				     : "the public key, CV request or bundle");
		return -1;
	}
	snprintf(o->pem, sizeof(o->pem), "%s/%s.pub.pem", dir, base);
	snprintf(o->cvreq, sizeof(o->cvreq), "%s/%s.cvreq", dir, base);
	snprintf(o->bundle, sizeof(o->bundle), "%s/%s.bundle.json", dir, base);
	der = unbase64(cvreq, &der_len);
	if (der == NULL) {
		fprintf(stderr, "smkey generate: the CV request in the reply is not base64\n");
		return -1;
	}
	rc = write_new(o->pem, pem, strlen(pem));
	if (rc == 0)
		rc = write_new(o->cvreq, der, (size_t)der_len);
	if (rc == 0)
		rc = write_new(o->bundle, bundle, strlen(bundle));
	free(der);
	return rc;
}

/* The progress line on a terminal: stage and elapsed time, rewritten. */
static void show_progress(int tty, const char *stage, double t0)
{
	if (tty)
		fprintf(stderr, "\r\033[Kgenerating: %s, %.1f s", smk_show(stage), now_s() - t0);
}

struct generate_args {
	const char *policy, *label, *device, *dir;
};

/* -o is the output directory here, not the shared -o FILE */
static const smk_opt generate_options[] = {
    {"policy", 'p', .offset = offsetof(struct generate_args, policy), .required = 1},
    {"label", 'l', .offset = offsetof(struct generate_args, label)},
    {"device", 'd', .offset = offsetof(struct generate_args, device)},
    {"output", 'o', .offset = offsetof(struct generate_args, dir)},
    {.name = NULL},
};

static const cmdline_spec generate_spec = {"generate", CMDLINE_JSON, generate_options,
					   .usage = usage};

int cmd_generate(int argc, char **argv)
{
	struct generate_args a = {NULL, NULL, NULL, "."};
	const char *policy, *label, *device, *dir;
	char stage[32] = "connecting";
	int json_out, tty = isatty(2), rc;
	cmdline_opts co;
	struct outputs out;
	varlink_reply reply;
	json_t *params, *msg = NULL, *files;
	double t0 = now_s();
	smk_err e;
	vlc c;

	if (cmdline_parse(&generate_spec, argc, argv, &a, &co) < 0)
		return co.status;
	policy = a.policy;
	label = a.label;
	device = a.device;
	dir = a.dir;
	json_out = co.json;
	if (access(dir, W_OK) < 0) {
		fprintf(stderr, "smkey generate: output directory %s: %s\n", dir, strerror(errno));
		return SMKEY_EXIT_USAGE;
	}
	if (vlc_connect(&c, vlc_socket_path(co.socket), &e) < 0) {
		fprintf(stderr, "smkey generate: %s\n", smk_show(e.msg));
		return SMKEY_EXIT_UNREACHABLE;
	}
	params = json_pack("{ss}", "policy", policy);
	if (label)
		json_object_set_new(params, "label", json_string(label));
	if (device)
		json_object_set_new(params, "device", json_string(device));
	rc = vlc_send(&c, "io.smkeyd.Generate", params, VARLINK_MORE, &e);
	json_decref(params);
	/* wake up every 100 ms on a terminal so the elapsed time moves while
	 * a slow key (RSA-4096: minutes) is made */
	while (rc == 0) {
		rc = vlc_recv(&c, tty ? 100 : -1, &msg, &reply, &e);
		if (rc == 0) {
			show_progress(tty, stage, t0);
			continue;
		}
		if (rc < 0 || reply.error || !reply.continues)
			break;
		snprintf(stage, sizeof(stage), "%s",
			 vlc_str(json_object_get(reply.params, "progress"), "stage", "working"));
		show_progress(tty, stage, t0);
		json_decref(msg);
		msg = NULL;
		rc = 0;
	}
	if (tty)
		fprintf(stderr, "\r\033[K");
	vlc_close(&c);
	if (rc < 0) {
		fprintf(stderr, "smkey generate: %s\n", smk_show(e.msg));
		return SMKEY_EXIT_UNREACHABLE;
	}
	if (reply.error) {
		rc = vlc_report_error("generate", &reply);
		json_decref(msg);
		return rc;
	}
	if (write_outputs(dir, reply.params, &out) < 0) {
		fprintf(stderr,
			"smkey generate: the key exists and is archived; fetch its bundle "
			"with: smkey bundle %s\n",
			vlc_show(reply.params, "request_id", "ID"));
		json_decref(msg);
		return SMKEY_EXIT_FAILED;
	}
	if (json_out) {
		files = json_pack("{ssssss}", "public_key", out.pem, "cvreq", out.cvreq, "bundle",
				  out.bundle);
		json_object_set_new(reply.params, "files", files);
		vlc_print_json(reply.params);
	} else {
		printf("generated %s: key %lld on %s, record %lld (request %s), %.1f s\n",
		       vlc_show(reply.params, "label", "?"),
		       (long long)json_integer_value(json_object_get(reply.params, "key_id")),
		       vlc_show(reply.params, "device", "?"),
		       (long long)json_integer_value(json_object_get(reply.params, "seq")),
		       vlc_show(reply.params, "request_id", "?"), now_s() - t0);
		printf("  public key  %s\n  cv request  %s\n  bundle      %s\n", out.pem, out.cvreq,
		       out.bundle);
	}
	json_decref(msg);
	return SMKEY_EXIT_OK;
}
